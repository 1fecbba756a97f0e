// Parameters of the PostgreSQL store's batch statements, written the way the server reads them
// with the least work on our side. pg writes a JS array as an array literal, quoting every
// element through two regular expressions, and a bytea element as `\\x` and its hex (twice its
// size, decoded again by the server); a Buffer parameter it sends as is, in binary.

/**
 * An array literal of numbers, `{1,2.5,NULL}`, for an `int[]`, `bigint[]` or `float8[]`
 * parameter; null and undefined are NULL.
 */
export function numberArray<T>(items: readonly T[], value: (item: T) => number | null | undefined): string {
  return `{${items.map((item) => value(item) ?? 'NULL').join(',')}}`;
}

// Characters an array element may hold unquoted (a conservative subset of what the server's
// array parser accepts bare: no braces, commas, quotes, backslashes or white space).
const BARE = /^[\w.:@/+=-]+$/;
const NULL_WORD = /^null$/i;

/**
 * An array literal of text, `{a,"b c",NULL}`, for a `text[]` parameter: ids, hashes and names
 * of the usual characters go bare (no string made for them), anything else quoted with `"` and
 * `\` escaped, as pg would; null and undefined are NULL.
 */
export function textArray<T>(items: readonly T[], value: (item: T) => string | null | undefined): string {
  const parts: string[] = new Array(items.length);
  for (let k = 0; k < items.length; k++) {
    const v = value(items[k]!);
    if (v == null) parts[k] = 'NULL';
    else if (BARE.test(v) && !NULL_WORD.test(v)) parts[k] = v;
    else parts[k] = `"${v.replace(/[\\"]/g, '\\$&')}"`;
  }
  return `{${parts.join(',')}}`;
}

/** Byte strings packed into one binary parameter, each found by its start (1-based) and length. */
export interface PackedBytes {
  /** The byte strings end to end: bind as `$n::bytea`. */
  blob: Buffer;
  /** `int[]` literal of each one's start in `blob`, counted from 1 as `substring` counts. */
  starts: string;
  /** `int[]` literal of each one's length. */
  lengths: string;
}

/**
 * Packs each item's bytes into one Buffer; SQL reads item k back as
 * `substring(blob FROM starts[k] FOR lengths[k])`.
 */
export function packBytes<T>(items: readonly T[], bytes: (item: T) => Uint8Array): PackedBytes {
  let size = 0;
  for (const item of items) size += bytes(item).byteLength;
  const blob = Buffer.allocUnsafe(size);
  let starts = '{';
  let lengths = '{';
  let at = 0;
  for (let k = 0; k < items.length; k++) {
    const b = bytes(items[k]!);
    blob.set(b, at);
    const sep = k === 0 ? '' : ',';
    starts += sep + (at + 1);
    lengths += sep + b.byteLength;
    at += b.byteLength;
  }
  return { blob, starts: `${starts}}`, lengths: `${lengths}}` };
}
