// Runs Debian's reference `capnp` tool (package capnproto) on Flock's schema files: the independent
// implementation that Flock's codec is checked against (DESIGN.md "Protocol").
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const SCHEMA_DIR = fileURLToPath(new URL('../../schema/', import.meta.url));

export type SchemaFile = 'compute.capnp' | 'bus.capnp';

/** A schema file by path, for schema-evolution tests (an older or newer copy of a struct). */
export interface SchemaPath {
  path: string;
}

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

const schemaArgs = (file: SchemaFile | SchemaPath, type: string): string[] => [
  `--import-path=${SCHEMA_DIR}`,
  typeof file === 'string' ? `${SCHEMA_DIR}${file}` : file.path,
  type,
];

/** `capnp encode`: Cap'n Proto text → a framed binary message (standard serialization). */
export function capnpEncode(file: SchemaFile | SchemaPath, type: string, text: string): Uint8Array {
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

/** Splits a stream of framed messages (as `capnp encode` writes several) into messages. */
export function splitMessages(stream: Uint8Array): Uint8Array[] {
  const view = new DataView(stream.buffer, stream.byteOffset, stream.byteLength);
  const out: Uint8Array[] = [];
  let at = 0;
  while (at < stream.length) {
    const segments = view.getUint32(at, true) + 1;
    let length = 4 + segments * 4;
    length += length % 8;
    for (let i = 0; i < segments; i++) length += view.getUint32(at + 4 + i * 4, true) * 8;
    out.push(stream.subarray(at, at + length));
    at += length;
  }
  return out;
}

/** Concatenates messages into one stream (what `capnp decode` reads). */
export function concatMessages(messages: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(messages.reduce((n, m) => n + m.length, 0));
  let at = 0;
  for (const m of messages) {
    out.set(m, at);
    at += m.length;
  }
  return out;
}

/**
 * Rewrites `(`, `)` and `#` inside string literals of `capnp decode` text as `\x28`, `\x29`,
 * `\x23`: the same bytes, in a form that capnp 0.9.2's `encode` reads back. Its scanner for where
 * each message of a stream ends counts parentheses and skips `#` comments without regard to
 * strings, so `(id = ")", trace = (spanId = "x"))` fails ("Failed to read input") and a `#` in
 * one message's string swallows the end of the next.
 */
export function escapeForEncode(text: string): string {
  let out = '';
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (inString && c === '\\') {
      out += c + (text[++i] ?? '');
    } else if (inString && (c === '(' || c === ')' || c === '#')) {
      out += `\\x${c.charCodeAt(0).toString(16)}`;
    } else {
      if (c === '"') inString = !inString;
      out += c;
    }
  }
  return out;
}
