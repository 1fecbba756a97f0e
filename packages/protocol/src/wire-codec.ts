// A direct Cap'n Proto reader and writer over the generated descriptor table (slot offsets,
// section sizes and discriminants read from the CodeGeneratorRequest). capnp-es allocates a
// Pointer object per field access and reads Text through a Proxy, which made a 3 KB frame cost
// ~0.3 ms to encode or decode (bench/codec.bench.ts); this codec reads and writes the words in
// place. It handles what Flock and the reference `capnp` tool produce for these schemas:
// single-segment messages with struct, list and composite-list pointers. Anything else (several
// segments, far pointers) is reported as `Unsupported`, and the caller decodes that message with
// capnp-es instead. Tests compare both codecs on random messages (wire-codec.test.ts).
//
// The codec is in three parts: wire-layout.ts (the descriptor table's layouts, pointer encoding,
// shared checks), wire-writer.ts and wire-reader.ts.
export { Unsupported } from './wire-layout.ts';
export { readMessage } from './wire-reader.ts';
export { writeMessage } from './wire-writer.ts';
