// The content-addressed store's endpoints (`/v1/blobs`, `/v1/modules`): what FlockClient's
// `blob`, `outputBytes` and `upload*` send, over the client's transport.
import type { DataRef } from '@flock/protocol';
import type { ModuleRef } from './api-types.ts';
import { FlockError } from './flock-error.ts';
import type { HttpTransport } from './http-transport.ts';

/**
 * A stored blob by `/v1/blobs/sha256:<hex>` or `flock:sha256:<hex>` uri or bare `sha256:<hex>`;
 * anything else is refused (INVALID_ARGUMENT).
 */
export async function readBlob(
  http: HttpTransport,
  uriOrHash: string,
): Promise<{ bytes: Uint8Array; contentType: string }> {
  // `flock:sha256:<hex>` is how an upload answers and how inputs name a blob: the same bytes.
  const bare = uriOrHash.startsWith('flock:') ? uriOrHash.slice('flock:'.length) : uriOrHash;
  const path = bare.startsWith('/v1/blobs/') ? bare : `/v1/blobs/${bare}`;
  if (!/^\/v1\/blobs\/[a-z0-9]+:[0-9a-f]+$/.test(path)) {
    throw new FlockError('INVALID_ARGUMENT', `not a blob reference: "${uriOrHash}"`);
  }
  return http.bytes(path);
}

/** A DataRef's bytes: inline bytes, inline JSON as UTF-8, or its blob read from the store. */
export async function dataRefBytes(http: HttpTransport, ref: DataRef): Promise<Uint8Array> {
  if (ref.inline_bytes !== undefined) return ref.inline_bytes;
  if (ref.inline_json !== undefined) return new TextEncoder().encode(ref.inline_json);
  if (ref.uri !== undefined) return (await readBlob(http, ref.uri)).bytes;
  throw new FlockError('INVALID_ARGUMENT', `DataRef "${ref.name ?? ''}" has no body`);
}

export function uploadBlob(http: HttpTransport, bytes: Uint8Array): Promise<ModuleRef> {
  return http.json<ModuleRef>('POST', '/v1/blobs', { body: bytes, contentType: 'application/octet-stream' });
}

/** A module upload: `wasm`, `wgsl` or an ONNX `model`, told apart by its content type. */
export function uploadModule(
  http: HttpTransport,
  bytes: Uint8Array | string,
  kind: 'wasm' | 'wgsl' | 'model',
): Promise<ModuleRef> {
  const contentType =
    kind === 'wasm' ? 'application/wasm' : kind === 'wgsl' ? 'text/wgsl' : 'application/onnx';
  return http.json<ModuleRef>('POST', '/v1/modules', { body: bytes, contentType });
}
