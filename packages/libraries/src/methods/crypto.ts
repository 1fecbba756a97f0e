// crypto.*: digests and MACs (hash-wasm), signatures (@noble/ed25519), AES-GCM (WebCrypto).
// A volunteer sees every key sent in params: these methods are for work whose keys are not secret
// from volunteers (checksums, signatures over public data, test vectors), never for secrets.
import { LibraryError } from '../library-error.ts';
import type { MethodDefinition } from '../method.ts';
import type { ParamsSchema } from '../params.ts';

const HEX = '^[0-9a-f]*$';

/** AES-GCM's params, both ways: the key, the IV (`ivDoc`), additional authenticated data. */
function aesGcmParams(ivDoc: string): ParamsSchema {
  return {
    fields: {
      key: {
        type: 'string',
        doc: 'a 128- or 256-bit key, hex (a volunteer sees it)',
        pattern: '^([0-9a-f]{32}|[0-9a-f]{64})$',
      },
      iv: { type: 'string', doc: ivDoc, pattern: '^[0-9a-f]{24}$' },
      aad: {
        type: 'string',
        doc: 'additional authenticated data, hex',
        pattern: HEX,
        maxLength: 4096,
        default: '',
      },
    },
    required: ['key', 'iv'],
  };
}

export const CRYPTO_METHODS: readonly MethodDefinition[] = [
  {
    library: 'crypto',
    method: 'hash',
    doc: 'Digests of every input with each algorithm',
    params: {
      fields: {
        algorithms: {
          type: 'array',
          doc: 'digests to compute',
          minItems: 1,
          maxItems: 8,
          items: {
            type: 'enum',
            doc: 'a digest',
            values: ['sha256', 'sha512', 'sha3-256', 'blake3', 'xxhash64', 'argon2id'],
          },
        },
        argon2: {
          type: 'object',
          doc: 'argon2id parameters (salt as hex)',
          fields: {
            salt: { type: 'string', doc: 'salt, hex (8 bytes or more)', pattern: '^([0-9a-f]{2}){8,64}$' },
            iterations: { type: 'integer', doc: 'passes', min: 1, max: 16, default: 3 },
            memory_kib: { type: 'integer', doc: 'memory, KiB', min: 64, max: 262_144, default: 65_536 },
            parallelism: { type: 'integer', doc: 'lanes', min: 1, max: 4, default: 1 },
            length: { type: 'integer', doc: 'bytes of output', min: 16, max: 64, default: 32 },
          },
          required: ['salt'],
        },
      },
      required: ['algorithms'],
    },
    inputs: { min: 1, max: 64, doc: 'the data to hash' },
    outputs: '`digests.json`: `{ "<input>": { "<algorithm>": "<hex>" } }`',
    compare: { kind: 'exact' },
    // Refused at submit, not first in a volunteer's tab.
    check: (params) => {
      if ((params['algorithms'] as string[]).includes('argon2id') && params['argon2'] === undefined)
        throw new LibraryError(
          'INVALID_PARAMS',
          'params.argon2 is required for argon2id (its salt)',
          'params.argon2',
        );
    },
  },
  {
    library: 'crypto',
    method: 'hmac',
    doc: 'HMAC of every input',
    params: {
      fields: {
        algorithm: {
          type: 'enum',
          doc: 'the hash',
          values: ['sha256', 'sha512', 'sha3-256'],
          default: 'sha256',
        },
        key: { type: 'string', doc: 'the key, hex (a volunteer sees it)', pattern: HEX, maxLength: 1024 },
      },
      required: ['key'],
    },
    inputs: { min: 1, max: 64, doc: 'the messages' },
    outputs: '`digests.json`: `{ "<input>": { "hmac-<algorithm>": "<hex>" } }`',
    compare: { kind: 'exact' },
  },
  {
    library: 'crypto',
    method: 'ed25519_sign',
    doc: 'Ed25519 signatures of every input',
    needsWebCrypto: true,
    params: {
      fields: {
        private_key: {
          type: 'string',
          doc: 'the 32-byte seed, hex (a volunteer sees it)',
          pattern: '^[0-9a-f]{64}$',
        },
      },
      required: ['private_key'],
    },
    inputs: { min: 1, max: 64, doc: 'the messages' },
    outputs: '`signatures.json`: `{ "<input>": "<128 hex>" }`, and `public_key` in the summary',
    compare: { kind: 'exact' },
  },
  {
    library: 'crypto',
    method: 'ed25519_verify',
    doc: 'Checks Ed25519 signatures of every input',
    needsWebCrypto: true,
    params: {
      fields: {
        public_key: { type: 'string', doc: 'the 32-byte public key, hex', pattern: '^[0-9a-f]{64}$' },
        signatures: {
          type: 'map',
          doc: 'input name → signature, hex',
          values: { type: 'string', doc: 'a 64-byte signature, hex', pattern: '^[0-9a-f]{128}$' },
          maxEntries: 64,
        },
      },
      required: ['public_key', 'signatures'],
    },
    inputs: { min: 1, max: 64, doc: 'the messages' },
    outputs: '`verified.json`: `{ "<input>": true | false }`',
    compare: { kind: 'exact' },
  },
  {
    library: 'crypto',
    method: 'aes_gcm_encrypt',
    doc: 'AES-GCM encryption of every input (WebCrypto)',
    needsWebCrypto: true,
    params: aesGcmParams('a 96-bit IV, hex; use each one once per key'),
    inputs: { min: 1, max: 64, doc: 'the plaintexts' },
    outputs: '`<input>.enc`: ciphertext followed by the 16-byte tag',
    compare: { kind: 'exact' },
  },
  {
    library: 'crypto',
    method: 'aes_gcm_decrypt',
    doc: 'AES-GCM decryption of every input (WebCrypto); a wrong tag fails INVALID_INPUT',
    needsWebCrypto: true,
    params: aesGcmParams('the 96-bit IV, hex'),
    inputs: { min: 1, max: 64, doc: 'ciphertexts with their tag' },
    outputs: '`<input without .enc>`: the plaintext',
    compare: { kind: 'exact' },
  },
];
