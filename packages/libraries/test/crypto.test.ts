// crypto.* against Node's own crypto (OpenSSL) and published vectors; params checked by schema.
import { createCipheriv, createHash, createHmac, createPrivateKey, createPublicKey, sign } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { checkLibraryCall, LibraryError } from '../src/index.ts';
import { runReference } from '../src/reference/index.ts';

const text = (s: string) => new TextEncoder().encode(s);
const inputs = [
  { name: 'abc.txt', contentType: 'text/plain', bytes: text('abc') },
  {
    name: 'big.bin',
    contentType: 'application/octet-stream',
    bytes: new Uint8Array(1 << 20).map((_, i) => i * 7),
  },
];
const jsonOf = (bytes: Uint8Array) => JSON.parse(new TextDecoder().decode(bytes));

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof LibraryError) return `${err.code} ${err.field}`;
    throw err;
  }
  return 'no error';
}

describe('crypto.hash', () => {
  test('digests equal OpenSSL (sha256, sha512, sha3-256) and the BLAKE3 and xxHash vectors', async () => {
    const { outputs } = await runReference(
      'crypto.hash',
      { algorithms: ['sha256', 'sha512', 'sha3-256', 'blake3', 'xxhash64'] },
      inputs,
    );
    expect(outputs.map((o) => o.name)).toEqual(['digests.json']);
    const digests = jsonOf(outputs[0]!.bytes);
    for (const input of inputs) {
      const row = digests[input.name];
      expect(row.sha256).toBe(createHash('sha256').update(input.bytes).digest('hex'));
      expect(row.sha512).toBe(createHash('sha512').update(input.bytes).digest('hex'));
      expect(row['sha3-256']).toBe(createHash('sha3-256').update(input.bytes).digest('hex'));
    }
    // BLAKE3 and XXH64 of "abc": the reference implementations' published values.
    expect(digests['abc.txt'].blake3).toBe(
      '6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85',
    );
    expect(digests['abc.txt'].xxhash64).toBe('44bc2cf5ad770999');
  });

  test('argon2id needs a salt, and gives the RFC 9106 shape of output', async () => {
    expect(codeOf(() => checkLibraryCall('crypto.hash', { algorithms: ['argon2id'], argon2: {} }, 1))).toBe(
      'INVALID_PARAMS params.argon2.salt',
    );
    // Without argon2 at all: refused by the check the coordinator runs at submit.
    expect(codeOf(() => checkLibraryCall('crypto.hash', { algorithms: ['sha256', 'argon2id'] }, 1))).toBe(
      'INVALID_PARAMS params.argon2',
    );
    const { outputs } = await runReference(
      'crypto.hash',
      {
        algorithms: ['argon2id'],
        argon2: { salt: '0102030405060708', iterations: 1, memory_kib: 64, length: 16 },
      },
      [inputs[0]!],
    );
    expect(jsonOf(outputs[0]!.bytes)['abc.txt'].argon2id).toMatch(/^[0-9a-f]{32}$/);
  });
});

describe('crypto.hmac, ed25519, aes-gcm', () => {
  test('HMAC equals OpenSSL', async () => {
    const key = '0b'.repeat(20);
    const { outputs } = await runReference('crypto.hmac', { algorithm: 'sha512', key }, inputs);
    const macs = jsonOf(outputs[0]!.bytes);
    for (const input of inputs) {
      expect(macs[input.name]['hmac-sha512']).toBe(
        createHmac('sha512', Buffer.from(key, 'hex')).update(input.bytes).digest('hex'),
      );
    }
  });

  test('Ed25519 signatures equal OpenSSL for the same seed, and verify; a flipped bit does not', async () => {
    const seed = '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60'; // RFC 8032, test 1
    const signed = await runReference('crypto.ed25519_sign', { private_key: seed }, inputs);
    const signatures = jsonOf(signed.outputs[0]!.bytes);
    const der = Buffer.concat([
      Buffer.from('302e020100300506032b657004220420', 'hex'),
      Buffer.from(seed, 'hex'),
    ]);
    const priv = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
    for (const input of inputs) {
      expect(signatures[input.name]).toBe(sign(null, input.bytes, priv).toString('hex'));
    }
    const pub = createPublicKey(priv).export({ format: 'der', type: 'spki' }).subarray(-32).toString('hex');
    expect(signed.summary?.public_key).toBe(pub);
    expect(pub).toBe('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a');
    const tampered = {
      ...signatures,
      'big.bin': `${signatures['big.bin'].slice(0, -1)}${signatures['big.bin'].endsWith('0') ? '1' : '0'}`,
    };
    const checked = await runReference(
      'crypto.ed25519_verify',
      { public_key: pub, signatures: tampered },
      inputs,
    );
    expect(jsonOf(checked.outputs[0]!.bytes)).toEqual({ 'abc.txt': true, 'big.bin': false });
    expect(checked.summary).toEqual({ valid: '1', invalid: '1' });
  });

  test('AES-GCM encrypts as OpenSSL does and decrypts back; a wrong tag fails INVALID_INPUT', async () => {
    const key = '00112233445566778899aabbccddeeff';
    const iv = '000102030405060708090a0b';
    const enc = await runReference('crypto.aes_gcm_encrypt', { key, iv, aad: 'feed' }, inputs);
    expect(enc.outputs.map((o) => o.name)).toEqual(['abc.txt.enc', 'big.bin.enc']);
    const cipher = createCipheriv('aes-128-gcm', Buffer.from(key, 'hex'), Buffer.from(iv, 'hex'));
    cipher.setAAD(Buffer.from('feed', 'hex'));
    const expected = Buffer.concat([cipher.update(inputs[0]!.bytes), cipher.final(), cipher.getAuthTag()]);
    expect(Buffer.from(enc.outputs[0]!.bytes).equals(expected)).toBe(true);
    const back = await runReference(
      'crypto.aes_gcm_decrypt',
      { key, iv, aad: 'feed' },
      enc.outputs.map((o) => ({ ...o, contentType: 'application/octet-stream' })),
    );
    expect(back.outputs.map((o) => o.name)).toEqual(['abc.txt', 'big.bin']);
    expect(Buffer.from(back.outputs[1]!.bytes).equals(Buffer.from(inputs[1]!.bytes))).toBe(true);
    const flipped = new Uint8Array(enc.outputs[0]!.bytes);
    flipped[0]! ^= 1;
    await expect(
      runReference('crypto.aes_gcm_decrypt', { key, iv, aad: 'feed' }, [
        { name: 'x.enc', contentType: '', bytes: flipped },
      ]),
    ).rejects.toMatchObject({ code: 'INVALID_INPUT' });
  });
});

describe('the call gate', () => {
  test('unknown library, unknown method, misspelt or out-of-range params and input counts are refused by field', () => {
    expect(codeOf(() => checkLibraryCall('imgae.resize', {}, 1))).toBe('UNKNOWN_LIBRARY op');
    expect(codeOf(() => checkLibraryCall('crypto.md5', {}, 1))).toBe('UNKNOWN_METHOD op');
    expect(codeOf(() => checkLibraryCall('crypto.hash', { algorithm: ['sha256'] }, 1))).toBe(
      'INVALID_PARAMS params.algorithm',
    );
    expect(codeOf(() => checkLibraryCall('crypto.hash', { algorithms: ['md5'] }, 1))).toBe(
      'INVALID_PARAMS params.algorithms[0]',
    );
    expect(codeOf(() => checkLibraryCall('crypto.hash', { algorithms: [] }, 1))).toBe(
      'INVALID_PARAMS params.algorithms',
    );
    expect(codeOf(() => checkLibraryCall('crypto.hash', { algorithms: ['sha256'] }, 0))).toBe(
      'INPUT_COUNT inputs',
    );
    expect(checkLibraryCall('crypto.hmac', { key: 'ab' }, 1).params).toEqual({
      key: 'ab',
      algorithm: 'sha256',
    });
  });
});
