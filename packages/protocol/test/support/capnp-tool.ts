// Runs Debian's reference `capnp` tool (package capnproto) on Flock's schema files: the independent
// implementation that Flock's codec is checked against (DESIGN.md "Protocol").
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const SCHEMA_DIR = fileURLToPath(new URL('../../schema/', import.meta.url));

export type SchemaFile = 'compute.capnp' | 'bus.capnp';

/** Throws a clear error (not a skip) when the reference tool is missing. */
export function requireCapnp(): string {
  const probe = spawnSync('capnp', ['--version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) {
    throw new Error(
      'the reference `capnp` tool (Debian package capnproto) is not installed: run `npm run setup`',
    );
  }
  return probe.stdout.trim();
}

function run(args: string[], input: string | Uint8Array): Buffer {
  const result = spawnSync('capnp', args, { input, maxBuffer: 64 << 20 });
  if (result.error) throw result.error;
  if (result.status !== 0) {
    throw new Error(`capnp ${args[0]} failed (${result.status}): ${result.stderr.toString()}`);
  }
  return result.stdout;
}

const schemaArgs = (file: SchemaFile, type: string): string[] => [
  `--import-path=${SCHEMA_DIR}`,
  `${SCHEMA_DIR}${file}`,
  type,
];

/** `capnp encode`: Cap'n Proto text → a framed binary message (standard serialization). */
export function capnpEncode(file: SchemaFile, type: string, text: string): Uint8Array {
  return new Uint8Array(run(['encode', ...schemaArgs(file, type)], text));
}

/** `capnp decode --short`: a framed binary message → one line of Cap'n Proto text. */
export function capnpDecode(file: SchemaFile, type: string, bytes: Uint8Array): string {
  const text = run(['decode', '--short', ...schemaArgs(file, type)], bytes)
    .toString('utf8')
    .trim();
  // capnp prints conversion errors into its output and still exits 0.
  if (text.includes('*** ERROR')) throw new Error(`capnp decode could not read the message:\n${text}`);
  return text;
}

/** The reference tool's canonical text for a text message: decode(encode(text)). */
export function canonicalText(file: SchemaFile, type: string, text: string): string {
  return capnpDecode(file, type, capnpEncode(file, type, text));
}

/** Segment count of a framed message (its first word). */
export function segmentCount(bytes: Uint8Array): number {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(0, true) + 1;
}
