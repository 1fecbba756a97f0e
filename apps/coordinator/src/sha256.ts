import { createHash } from 'node:crypto';

/**
 * The sha256 of bytes (a string: of its UTF-8), as lowercase hex: the one helper for content
 * hashes, blob and module names (`sha256:<hex>`) and session-token digests.
 */
export function sha256Hex(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}
