// Files as the inputs of library tasks (`module.kind = "library"`): each keeps its file name (a
// library names its outputs after its inputs: cat.png → cat.jpg) and a content type from its
// extension; large ones are uploaded once as blobs and named by hash rather than sent inline.
import type { DataRef } from '@flock/protocol';
import type { FlockClient } from './flock-client.ts';

/** Inputs up to this size ride inline in the envelope; larger ones are uploaded (`POST /v1/blobs`). */
export const INLINE_INPUT_BYTES = 256 * 1024;

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  png: 'image/png',
  webp: 'image/webp',
  gif: 'image/gif',
  avif: 'image/avif',
  heic: 'image/heic',
  csv: 'text/csv',
  tsv: 'text/tab-separated-values',
  json: 'application/json',
  ndjson: 'application/x-ndjson',
  jsonl: 'application/x-ndjson',
  parquet: 'application/vnd.apache.parquet',
  arrow: 'application/vnd.apache.arrow.file',
  wav: 'audio/wav',
  mp3: 'audio/mpeg',
  ogg: 'audio/ogg',
  opus: 'audio/opus',
  flac: 'audio/flac',
  m4a: 'audio/mp4',
  mp4: 'video/mp4',
  webm: 'video/webm',
  mkv: 'video/x-matroska',
  txt: 'text/plain',
};

/** The content type of a file name by its extension (`application/octet-stream` when unknown). */
export function contentTypeOf(name: string): string {
  const dot = name.lastIndexOf('.');
  return (dot >= 0 && CONTENT_TYPES[name.slice(dot + 1).toLowerCase()]) || 'application/octet-stream';
}

/** One named input: inline when small, else uploaded once and named by its hash. */
export function libraryInput(client: FlockClient, name: string, bytes: Uint8Array): Promise<DataRef> {
  return dataInput(client, name, contentTypeOf(name), bytes);
}

/** A named input of the given content type: inline up to INLINE_INPUT_BYTES, else uploaded once. */
export async function dataInput(
  client: FlockClient,
  name: string,
  contentType: string,
  bytes: Uint8Array,
): Promise<DataRef> {
  const ref: DataRef = { name, content_type: contentType, size: bytes.byteLength };
  if (bytes.byteLength <= INLINE_INPUT_BYTES) return { ...ref, inline_bytes: bytes };
  const blob = await client.uploadBlob(bytes);
  return { ...ref, uri: blob.uri };
}
