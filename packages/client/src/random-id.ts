/**
 * `bytes` random bytes as lowercase hex. Uses `crypto.getRandomValues`, which, unlike
 * `crypto.randomUUID`, exists on plain-http pages too (a coordinator reached over a LAN address).
 */
export function randomId(bytes = 8): string {
  const buffer = globalThis.crypto.getRandomValues(new Uint8Array(bytes));
  return Array.from(buffer, (b) => b.toString(16).padStart(2, '0')).join('');
}
