// Flock's messages to and from framed Cap'n Proto: the direct codec (wire-codec.ts) for what it
// reads and writes, capnp-es's walker (reference-codec.ts) for the encodings it leaves to it.
// Both are driven by the descriptor table generated from the schema, so the layout is stated
// once: in schema/*.capnp.
import type { StructTypes } from './generated/model.ts';
import { type DecodeLimits, resolveLimits } from './limits.ts';
import { asProtocolError, checkFraming, openMessage } from './message-framing.ts';
import { decodeRoot } from './reference-codec.ts';
import type { StructName } from './struct-descriptors.ts';
import { readMessage, Unsupported, writeMessage } from './wire-codec.ts';

type Obj = Record<string, unknown>;

/** Encodes a struct as a framed, single-segment Cap'n Proto message. */
export function encodeMessage<N extends StructName>(
  name: N,
  obj: StructTypes[N],
  limits?: Partial<DecodeLimits>,
): Uint8Array {
  return writeMessage(name, obj, resolveLimits(limits));
}

/**
 * Decodes a framed message after checking its segment table: directly for single-segment
 * messages, through capnp-es for encodings the direct reader leaves to it (several segments, far
 * pointers). `only`: the one root field the caller uses; the direct reader checks the others
 * without building them (capnp-es builds them all). Throws only ProtocolError.
 */
export function decodeChecked(name: StructName, bytes: Uint8Array, limits: DecodeLimits, only?: string): Obj {
  try {
    checkFraming(bytes, limits);
    try {
      return readMessage(name, bytes, limits, only);
    } catch (error) {
      if (!(error instanceof Unsupported)) throw error;
    }
    return decodeRoot(openMessage(bytes, limits), name, bytes.length, limits);
  } catch (error) {
    throw asProtocolError(error);
  }
}

/** Decodes a framed Cap'n Proto message of the named struct. Throws only ProtocolError. */
export function decodeMessage<N extends StructName>(
  name: N,
  bytes: Uint8Array,
  limits?: Partial<DecodeLimits>,
): StructTypes[N] {
  return decodeChecked(name, bytes, resolveLimits(limits)) as StructTypes[N];
}
