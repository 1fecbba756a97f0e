// `GET /v1/libs/<package>@<version>/<path>`: the libraries' WASM files as volunteer tabs fetch
// them (no API key): exactly the listed files of the installed packages, immutable, CORP
// cross-origin, the sha256 as ETag; anything else is 404.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { type IncomingHttpHeaders, request } from 'node:http';
import { gunzipSync } from 'node:zlib';
import { packageFiles } from '@flock/libraries/node';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTest, type TestCoordinator } from './helpers.ts';

let c: TestCoordinator;

beforeAll(async () => {
  c = await startTest();
});

afterAll(async () => {
  await c?.stop();
});

/** A raw GET, so `..` in the path reaches the server as written (fetch would normalise it). */
function rawGet(path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(`${c.url}${path}`, { path }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString('latin1')));
      res.on('end', () => resolve(body.includes('root:') ? -1 : (res.statusCode ?? 0)));
    });
    req.on('error', reject);
    req.end();
  });
}

/** A raw GET with `headers` and no decoding: the bytes as they came over the wire. */
function rawGetBytes(
  path: string,
  headers: Record<string, string>,
): Promise<{ headers: IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request(`${c.url}${path}`, { headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('library files', () => {
  const glue = packageFiles().find((f) => f.package === 'wasm-vips' && f.path === 'lib/vips-es6.js')!;

  test('a listed file is served whole, immutable, cross-origin, with its sha256 as ETag, without a key', async () => {
    const res = await c.api(glue.urlPath, { key: null, headers: { 'accept-encoding': 'identity' } });
    expect(res.status).toBe(200);
    const body = new Uint8Array(await res.arrayBuffer());
    expect(Buffer.from(body).equals(readFileSync(glue.file))).toBe(true);
    const sha256 = createHash('sha256').update(body).digest('hex');
    expect(glue.sha256).toBe(sha256);
    expect(
      Object.fromEntries(
        ['content-type', 'cache-control', 'etag', 'cross-origin-resource-policy'].map((h) => [
          h,
          res.headers.get(h),
        ]),
      ),
    ).toEqual({
      'content-type': 'text/javascript; charset=utf-8',
      'cache-control': 'public, max-age=31536000, immutable',
      etag: `"sha256:${sha256}"`,
      'cross-origin-resource-policy': 'cross-origin',
    });
    const head = await c.api(glue.urlPath, {
      key: null,
      method: 'HEAD',
      headers: { 'accept-encoding': 'identity' },
    });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(String(body.byteLength));
    const wasm = packageFiles().find((f) => f.path.endsWith('vips.wasm'))!;
    expect((await c.api(wasm.urlPath, { key: null, method: 'HEAD' })).headers.get('content-type')).toBe(
      'application/wasm',
    );
  });

  test('a client that takes gzip gets the file gzipped (same bytes once decoded), others get it as is', async () => {
    const wasm = packageFiles().find((f) => f.path.endsWith('vips.wasm'))!;
    const raw = await rawGetBytes(wasm.urlPath, { 'accept-encoding': 'gzip, deflate, br' });
    expect(raw.headers['content-encoding']).toBe('gzip');
    expect(raw.headers['vary']).toBe('Accept-Encoding');
    expect(raw.headers['etag']).toBe(`"sha256:${wasm.sha256}.gz"`);
    expect(Number(raw.headers['content-length'])).toBe(raw.body.byteLength);
    expect(raw.body.byteLength).toBeLessThan(wasm.bytes / 2);
    expect(gunzipSync(raw.body).equals(readFileSync(wasm.file))).toBe(true);
    for (const refuses of ['identity', 'gzip;q=0', 'br']) {
      const plain = await rawGetBytes(wasm.urlPath, { 'accept-encoding': refuses });
      expect(plain.headers['content-encoding']).toBeUndefined();
      expect(plain.body.byteLength).toBe(wasm.bytes);
    }
  });

  test('unlisted files, other versions and paths that climb out are 404', async () => {
    const version = glue.urlPath.split('@')[1]!.split('/')[0]!;
    const unlisted = await c.api(`/v1/libs/wasm-vips@${version}/package.json`, { key: null });
    expect(unlisted.status).toBe(404);
    expect((await unlisted.json()).error.code).toBe('NOT_FOUND');
    expect((await c.api('/v1/libs/wasm-vips@0.0.1/lib/vips-es6.js', { key: null })).status).toBe(404);
    // Dot segments are resolved before routing: inside /v1/libs they name an unlisted file...
    expect(await rawGet(`/v1/libs/wasm-vips@${version}/lib/../package.json`)).toBe(404);
    expect(await rawGet(`/v1/libs/wasm-vips@${version}/lib/%2e%2e/package.json`)).toBe(404);
    // ...and out of it, a path that is no file (a system file's text never comes back).
    expect(await rawGet(`/v1/libs/wasm-vips@${version}/../../../../etc/passwd`)).toBe(404);
    expect(await rawGet(`/v1/libs/wasm-vips@${version}/lib/../../../package.json`)).toBe(401);
  });
});
