// crypto.* in the tab: hash-wasm for digests and HMAC, @noble/ed25519 for signatures, WebCrypto
// for AES-GCM. hash-wasm embeds its WASM, so there is nothing to fetch.
import * as ed from '@noble/ed25519';
import {
  argon2id,
  blake3,
  createHMAC,
  createSHA3,
  createSHA256,
  createSHA512,
  sha3,
  sha256,
  sha512,
  xxhash64,
} from 'hash-wasm';
import { LibraryError } from '../library-error.ts';
import type { CheckedCall } from '../registry.ts';
import type { LibraryInput, LibraryResult, LibraryRuntime } from './runtime.ts';

export const hexOf = (bytes: Uint8Array): string =>
  Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
export const bytesOfHex = (hex: string): Uint8Array<ArrayBuffer> =>
  Uint8Array.from({ length: hex.length / 2 }, (_, i) => Number.parseInt(hex.slice(2 * i, 2 * i + 2), 16));
const json = (name: string, value: unknown) => ({
  name,
  contentType: 'application/json',
  bytes: new TextEncoder().encode(`${JSON.stringify(value, null, 2)}\n`),
});

async function digest(algorithm: string, data: Uint8Array, params: CheckedCall['params']): Promise<string> {
  switch (algorithm) {
    case 'sha256':
      return sha256(data);
    case 'sha512':
      return sha512(data);
    case 'sha3-256':
      return sha3(data, 256);
    case 'blake3':
      return blake3(data);
    case 'xxhash64':
      return xxhash64(data);
    case 'argon2id': {
      const a = params.argon2 as
        | { salt: string; iterations: number; memory_kib: number; parallelism: number; length: number }
        | undefined;
      if (!a)
        throw new LibraryError('INVALID_PARAMS', 'argon2id needs params.argon2 with a salt', 'params.argon2');
      return argon2id({
        password: data,
        salt: bytesOfHex(a.salt),
        iterations: a.iterations,
        memorySize: a.memory_kib,
        parallelism: a.parallelism,
        hashLength: a.length,
        outputType: 'hex',
      });
    }
    default:
      throw new LibraryError('INVALID_PARAMS', `unknown algorithm ${algorithm}`, 'params.algorithms');
  }
}

function hmacHasher(algorithm: string) {
  if (algorithm === 'sha512') return createSHA512();
  if (algorithm === 'sha3-256') return createSHA3(256);
  return createSHA256();
}

async function aes(call: CheckedCall, input: LibraryInput, encrypt: boolean): Promise<Uint8Array> {
  const p = call.params as { key: string; iv: string; aad: string };
  const key = await crypto.subtle.importKey('raw', bytesOfHex(p.key), 'AES-GCM', false, [
    encrypt ? 'encrypt' : 'decrypt',
  ]);
  const algo = { name: 'AES-GCM', iv: bytesOfHex(p.iv), additionalData: bytesOfHex(p.aad), tagLength: 128 };
  // WebCrypto refuses views of shared memory (the arena): one copy into a plain buffer.
  const data = new Uint8Array(input.bytes);
  try {
    const out = encrypt
      ? await crypto.subtle.encrypt(algo, key, data)
      : await crypto.subtle.decrypt(algo, key, data);
    return new Uint8Array(out);
  } catch {
    throw new LibraryError(
      'INVALID_INPUT',
      `${input.name}: the tag does not match (wrong key, IV, AAD or data)`,
      'inputs',
    );
  }
}

/** One crypto call; shared by the tab's runtime and the Node reference (both have WebCrypto). */
export async function runCrypto(call: CheckedCall, inputs: LibraryInput[]): Promise<LibraryResult> {
  const p = call.params;
  switch (call.method.method) {
    case 'hash': {
      const out: Record<string, Record<string, string>> = {};
      for (const input of inputs) {
        const row: Record<string, string> = {};
        for (const algorithm of p.algorithms as string[])
          row[algorithm] = await digest(algorithm, input.bytes, p);
        out[input.name] = row;
      }
      return { outputs: [json('digests.json', out)], summary: { inputs: String(inputs.length) } };
    }
    case 'hmac': {
      const algorithm = p.algorithm as string;
      const out: Record<string, Record<string, string>> = {};
      for (const input of inputs) {
        const mac = await createHMAC(hmacHasher(algorithm), bytesOfHex(p.key as string));
        mac.init();
        mac.update(input.bytes);
        out[input.name] = { [`hmac-${algorithm}`]: mac.digest('hex') };
      }
      return { outputs: [json('digests.json', out)] };
    }
    case 'ed25519_sign': {
      const seed = bytesOfHex(p.private_key as string);
      const out: Record<string, string> = {};
      for (const input of inputs) out[input.name] = hexOf(await ed.signAsync(input.bytes, seed));
      return {
        outputs: [json('signatures.json', out)],
        summary: { public_key: hexOf(await ed.getPublicKeyAsync(seed)) },
      };
    }
    case 'ed25519_verify': {
      const pub = bytesOfHex(p.public_key as string);
      const signatures = p.signatures as Record<string, string>;
      const out: Record<string, boolean> = {};
      let valid = 0;
      for (const input of inputs) {
        const sig = signatures[input.name];
        out[input.name] =
          sig !== undefined && (await ed.verifyAsync(bytesOfHex(sig), input.bytes, pub).catch(() => false));
        if (out[input.name]) valid++;
      }
      return {
        outputs: [json('verified.json', out)],
        summary: { valid: String(valid), invalid: String(inputs.length - valid) },
      };
    }
    case 'aes_gcm_encrypt':
    case 'aes_gcm_decrypt': {
      const encrypt = call.method.method === 'aes_gcm_encrypt';
      const outputs = [];
      for (const input of inputs) {
        const name = encrypt ? `${input.name}.enc` : input.name.replace(/\.enc$/, '');
        outputs.push({
          name,
          contentType: 'application/octet-stream',
          bytes: await aes(call, input, encrypt),
        });
      }
      return { outputs };
    }
    default:
      throw new LibraryError('UNKNOWN_METHOD', `crypto.${call.method.method} has no runtime`, 'op');
  }
}

export const cryptoRuntime: LibraryRuntime = {
  load: async () => undefined,
  run: (call, inputs) => runCrypto(call, inputs),
};
