// How an executor gets a library's files: from the coordinator's /v1/libs URL (a real HTTP server
// here), once per executor, and only when the bytes have the sha256 the page's manifest carries.
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { LibraryFiles } from '../src/library-files.ts';

const GOOD = new TextEncoder().encode('(module)');
const SERVED: Record<string, Uint8Array> = {
  '/v1/libs/lib@1.2.3/good.wasm': GOOD,
  '/v1/libs/lib@1.2.3/tampered.js': new TextEncoder().encode('evil()'),
};
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const MANIFEST = {
  lib: {
    version: '1.2.3',
    files: {
      'good.wasm': { sha256: sha256(GOOD), bytes: GOOD.byteLength },
      'tampered.js': { sha256: sha256(new TextEncoder().encode('good()')), bytes: 6 },
      'missing.wasm': { sha256: sha256(GOOD), bytes: GOOD.byteLength },
    },
  },
};

let server: Server;
let origin: string;
const hits: string[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    hits.push(req.url ?? '');
    const body = SERVED[req.url ?? ''];
    res.writeHead(body ? 200 : 404).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

describe('library files', () => {
  it('fetches a listed file once, from its versioned URL, when its sha256 matches', async () => {
    const files = new LibraryFiles(MANIFEST, origin);
    expect(files.url('lib', 'good.wasm')).toBe(`${origin}/v1/libs/lib@1.2.3/good.wasm`);
    hits.length = 0;
    expect(await files.file('lib', 'good.wasm')).toEqual(GOOD);
    expect(await files.file('lib', 'good.wasm')).toEqual(GOOD);
    expect(hits).toEqual(['/v1/libs/lib@1.2.3/good.wasm']);
    expect(files.fetchedBytes).toBe(GOOD.byteLength);
  });

  it('refuses bytes whose sha256 differs, files the manifest does not list, and failed fetches', async () => {
    const files = new LibraryFiles(MANIFEST, origin);
    await expect(files.file('lib', 'tampered.js')).rejects.toThrow(
      `${origin}/v1/libs/lib@1.2.3/tampered.js has sha256 ${sha256(SERVED['/v1/libs/lib@1.2.3/tampered.js']!)}, the page expects ${MANIFEST.lib.files['tampered.js'].sha256}`,
    );
    await expect(files.file('lib', 'other.wasm')).rejects.toThrow(
      'lib/other.wasm is not a library file of this page',
    );
    expect(() => files.url('nope', 'good.wasm')).toThrow('nope/good.wasm is not a library file of this page');
    await expect(files.file('lib', 'missing.wasm')).rejects.toThrow(/^404 Not Found for /);
    expect(files.fetchedBytes).toBe(0);
    // A failure is not remembered: the next job fetches again.
    hits.length = 0;
    await expect(files.file('lib', 'missing.wasm')).rejects.toThrow(/^404/);
    expect(hits).toEqual(['/v1/libs/lib@1.2.3/missing.wasm']);
  });

  it('checks the files without WebCrypto, as on an insecure origin (no crypto.subtle)', async () => {
    const real = globalThis.crypto;
    vi.stubGlobal('crypto', { getRandomValues: (a: Uint8Array) => real.getRandomValues(a) });
    expect(globalThis.crypto.subtle).toBeUndefined();
    const files = new LibraryFiles(MANIFEST, origin);
    expect(await files.file('lib', 'good.wasm')).toEqual(GOOD);
    await expect(files.file('lib', 'tampered.js')).rejects.toThrow(
      /tampered\.js has sha256 [0-9a-f]{64}, the page expects/,
    );
  });
});

afterEach(() => {
  vi.unstubAllGlobals();
});
