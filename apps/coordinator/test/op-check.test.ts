// What a library call adds to a task's requirements at submit, so the scheduler offers it only to
// tabs that can run it: shared memory (image.*) asks for a cross-origin-isolated tab, WebCrypto
// (crypto's AES-GCM and Ed25519, which a page on an insecure origin lacks) for a secure context.
import type { ComputeEnvelope, JsonObject } from '@flock/protocol';
import { describe, expect, it } from 'vitest';
import { checkOpNow } from '../src/edge/op-check.ts';

const KEY = '00112233445566778899aabbccddeeff';

function checked(op: string, params: JsonObject): ComputeEnvelope {
  const envelope: ComputeEnvelope = {
    task_id: 't',
    op,
    module: { kind: 'library' },
    params,
    requirements: { min: { wasm: true } },
    inputs: [{ name: 'in.bin', inline_bytes: new Uint8Array([1, 2, 3]) }],
  };
  checkOpNow(envelope, '', []);
  return envelope;
}

describe('checkOpNow: requirements a library call adds', () => {
  it('asks for a secure context, not isolation, for methods that use WebCrypto', () => {
    for (const [op, params] of [
      ['crypto.aes_gcm_encrypt', { key: KEY, iv: '000000000000000000000000' }],
      ['crypto.aes_gcm_decrypt', { key: KEY, iv: '000000000000000000000000' }],
      ['crypto.ed25519_sign', { private_key: KEY + KEY }],
      ['crypto.ed25519_verify', { public_key: KEY + KEY, signatures: { 'in.bin': KEY.repeat(4) } }],
    ] as const) {
      expect(checked(op, params).requirements?.min, op).toEqual({ wasm: true, secure_context: true });
    }
  });

  it('asks for isolation for a library whose build needs shared memory, and nothing for the others', () => {
    expect(checked('image.invert', {}).requirements?.min).toEqual({
      wasm: true,
      cross_origin_isolated: true,
    });
    expect(checked('crypto.hash', { algorithms: ['sha256'] }).requirements?.min).toEqual({ wasm: true });
    expect(checked('data.query', { sql: 'SELECT 1' }).requirements?.min).toEqual({ wasm: true });
  });
});
