// HTTPS and WSS on the coordinator's one port: a generated development certificate (kept in the
// data dir, reused, made again for new names), PEM files, the public URL, and the Origin check
// that believes X-Forwarded-Proto/Host only from trusted proxies.
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeFrame, encodeFrame, makeFrame } from '@flock/protocol';
import { afterEach, describe, expect, test } from 'vitest';
import WebSocket from 'ws';
import { CoordinatorError } from '../src/errors.ts';
import { startTest, type TestCoordinator } from './helpers.ts';

let c: TestCoordinator | undefined;
afterEach(async () => {
  await c?.stop();
  c = undefined;
});

/** GET over HTTPS to `url`'s port on 127.0.0.1, verifying the certificate for `servername` against `ca`. */
function httpsGet(
  url: string,
  path: string,
  ca: string,
  servername: string,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: Number(new URL(url).port),
        path,
        ca,
        servername,
        headers: { host: servername },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (chunk: string) => {
          body += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** Says hello on `/v1/worker` over WSS; resolves with `welcome` or the close code and error code. */
function helloOverWss(
  url: string,
  ca: string,
  headers: Record<string, string>,
): Promise<{ welcome: boolean; close?: number; error?: string }> {
  const ws = new WebSocket(`${url.replace('https', 'wss')}/v1/worker`, {
    ca,
    headers,
  });
  let error: string | undefined;
  return new Promise((resolve, reject) => {
    ws.on('error', reject);
    ws.on('open', () =>
      ws.send(
        encodeFrame(makeFrame({ hello: { protocol_version: 1, capability: { wasm: true, cpu_slots: 1 } } })),
      ),
    );
    ws.on('message', (data: Buffer) => {
      const payload = decodeFrame(new Uint8Array(data)).payload!;
      if ('welcome' in payload) {
        ws.close();
        resolve({ welcome: true });
      }
      if ('error' in payload) error ??= payload.error.code;
    });
    ws.on('close', (code) => resolve({ welcome: false, close: code, ...(error ? { error } : {}) }));
  });
}

describe('FLOCK_TLS=self-signed', () => {
  test('serves HTTPS and WSS on one port with a certificate for the local and public names', async () => {
    c = await startTest({ tls: { kind: 'self-signed' }, publicUrl: 'https://flock.test:8443' });
    expect(c.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(c.publicUrl).toBe('https://flock.test:8443');
    expect(c.selfSignedCertFile).toBe(join(c.dataDir, 'tls', 'self-signed-cert.pem'));
    const ca = readFileSync(c.selfSignedCertFile!, 'utf8');
    const cert = new X509Certificate(ca);
    expect(cert.checkHost('flock.test')).toBe('flock.test');
    expect(cert.checkHost('localhost')).toBe('localhost');
    expect(cert.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(cert.ca).toBe(false);

    // The certificate, trusted as Node clients are told to (NODE_EXTRA_CA_CERTS), verifies for both names.
    expect(await httpsGet(c.url, '/healthz', ca, 'flock.test')).toEqual({
      status: 200,
      body: '{"status":"ok"}',
    });
    expect((await httpsGet(c.url, '/healthz', ca, 'localhost')).status).toBe(200);
    // Not for a name it does not hold.
    await expect(httpsGet(c.url, '/healthz', ca, 'other.example')).rejects.toMatchObject({
      code: 'ERR_TLS_CERT_ALTNAME_INVALID',
    });
    // Plain HTTP on the TLS port gets no answer from the API.
    const plain = await new Promise<string>((resolve) => {
      const req = httpRequest({ host: '127.0.0.1', port: c!.port, path: '/healthz' }, (res) =>
        resolve(`status ${res.statusCode}`),
      );
      req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
      req.end();
    });
    expect(plain).not.toMatch(/^status 200/);

    // WSS on the same port; the public URL's origin is allowed without FLOCK_ALLOWED_ORIGINS.
    expect(await helloOverWss(c.url, ca, { Origin: 'https://flock.test:8443' })).toEqual({ welcome: true });
    expect(await helloOverWss(c.url, ca, { Origin: 'https://evil.example' })).toEqual({
      welcome: false,
      close: 1008,
      error: 'ORIGIN_NOT_ALLOWED',
    });
  });

  test('keeps the certificate across restarts and makes a new one for a new public name', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flock-tls-'));
    c = await startTest({ tls: { kind: 'self-signed' }, publicUrl: 'https://flock.test' }, dir);
    const first = readFileSync(c.selfSignedCertFile!, 'utf8');
    await c.stop();
    c = await startTest({ tls: { kind: 'self-signed' }, publicUrl: 'https://flock.test' }, dir);
    expect(readFileSync(c.selfSignedCertFile!, 'utf8')).toBe(first);
    await c.stop();
    c = await startTest({ tls: { kind: 'self-signed' }, publicUrl: 'https://volunteers.example.org' }, dir);
    const second = readFileSync(c.selfSignedCertFile!, 'utf8');
    expect(second).not.toBe(first);
    expect(new X509Certificate(second).checkHost('volunteers.example.org')).toBe('volunteers.example.org');
  });
});

describe('FLOCK_TLS_CERT / FLOCK_TLS_KEY', () => {
  /** A certificate and key made with openssl for `name`, written into a temp dir. */
  function pemPair(name: string): { certFile: string; keyFile: string; cert: string } {
    const dir = mkdtempSync(join(tmpdir(), 'flock-pem-'));
    const certFile = join(dir, 'cert.pem');
    const keyFile = join(dir, 'key.pem');
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-days',
        '2',
        '-subj',
        `/CN=${name}`,
        '-addext',
        `subjectAltName=DNS:${name}`,
        '-keyout',
        keyFile,
        '-out',
        certFile,
      ],
      { stdio: 'ignore' },
    );
    return { certFile, keyFile, cert: readFileSync(certFile, 'utf8') };
  }

  test('serves the given certificate', async () => {
    const pair = pemPair('coordinator.example');
    c = await startTest({ tls: { kind: 'files', certFile: pair.certFile, keyFile: pair.keyFile } });
    expect(c.selfSignedCertFile).toBeUndefined();
    expect(await httpsGet(c.url, '/healthz', pair.cert, 'coordinator.example')).toEqual({
      status: 200,
      body: '{"status":"ok"}',
    });
  });

  test('a key that is not the certificate’s stops the start with CONFIG_INVALID', async () => {
    const a = pemPair('a.example');
    const b = pemPair('b.example');
    const failed = await startTest({
      tls: { kind: 'files', certFile: a.certFile, keyFile: b.keyFile },
    }).catch((err: unknown) => err);
    expect(failed).toBeInstanceOf(CoordinatorError);
    expect(failed).toMatchObject({ code: 'CONFIG_INVALID', field: 'FLOCK_TLS_CERT' });
    const missing = join(tmpdir(), 'flock-no-such-dir', 'cert.pem');
    await expect(
      startTest({ tls: { kind: 'files', certFile: missing, keyFile: a.keyFile } }),
    ).rejects.toMatchObject({ code: 'CONFIG_INVALID', field: 'FLOCK_TLS_CERT' });
  });
});

describe('Origin on /v1/worker behind a reverse proxy', () => {
  const forwarded = { 'X-Forwarded-Proto': 'https', 'X-Forwarded-Host': 'flock.test:8443' };

  /** Says hello over plain WS with `headers`; resolves with welcome or the close and error codes. */
  function hello(
    url: string,
    headers: Record<string, string>,
  ): Promise<{ welcome: boolean; close?: number; error?: string }> {
    const ws = new WebSocket(`${url.replace('http', 'ws')}/v1/worker`, { headers });
    let error: string | undefined;
    return new Promise((resolve, reject) => {
      ws.on('error', reject);
      ws.on('open', () =>
        ws.send(
          encodeFrame(
            makeFrame({ hello: { protocol_version: 1, capability: { wasm: true, cpu_slots: 1 } } }),
          ),
        ),
      );
      ws.on('message', (data: Buffer) => {
        const payload = decodeFrame(new Uint8Array(data)).payload!;
        if ('welcome' in payload) {
          ws.close();
          resolve({ welcome: true });
        }
        if ('error' in payload) error ??= payload.error.code;
      });
      ws.on('close', (code) => resolve({ welcome: false, close: code, ...(error ? { error } : {}) }));
    });
  }

  test('X-Forwarded-Proto/Host give the page origin only when a trusted proxy sends them', async () => {
    c = await startTest({ trustedProxies: ['127.0.0.1'] });
    expect(await hello(c.url, { Origin: 'https://flock.test:8443', ...forwarded })).toEqual({
      welcome: true,
    });
    // The forwarded origin must be the Origin itself, not merely present.
    expect(
      await hello(c.url, {
        Origin: 'https://flock.test:8443',
        ...forwarded,
        'X-Forwarded-Host': 'other.test',
      }),
    ).toEqual({ welcome: false, close: 1008, error: 'ORIGIN_NOT_ALLOWED' });
    await c.stop();
    // The same headers from a peer that is not a trusted proxy are ignored.
    c = await startTest({ trustedProxies: ['10.0.0.0/8'] });
    expect(await hello(c.url, { Origin: 'https://flock.test:8443', ...forwarded })).toEqual({
      welcome: false,
      close: 1008,
      error: 'ORIGIN_NOT_ALLOWED',
    });
  });
});
