// Hostile traffic at the socket level (#21): malformed WebSocket frames on every endpoint, pages
// with bad paths, slow and oversized requests, and connection floods. Each test checks the exact
// refusal and that the coordinator still serves everyone else afterwards.
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, test } from 'vitest';
import { SimulatedVolunteer } from '../src/sim/simulated-volunteer.ts';
import { envelope, type Json, KEY_A, startTest, type TestCoordinator, until } from './helpers.ts';
import { openRawWs } from './support/raw-ws.ts';

let c: TestCoordinator | undefined;
const sims: SimulatedVolunteer[] = [];
const sockets: Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(sims.splice(0).map((s) => s.close()));
  await c?.stop();
  c = undefined;
});

/** A task submitted now runs on a fresh volunteer and succeeds: the coordinator serves. */
async function stillServes(id: string): Promise<void> {
  expect((await c!.api('/healthz')).status).toBe(200);
  const sim = await SimulatedVolunteer.connect({ url: c!.url });
  sims.push(sim);
  expect((await c!.api('/v1/tasks', { method: 'POST', json: envelope(id) })).status).toBe(201);
  await until(async () => (await (await c!.api(`/v1/tasks/${id}`)).json()).state === 'succeeded', 10_000, id);
}

/** Opens a raw TCP connection to the coordinator. */
function tcp(): Promise<Socket> {
  const { hostname, port } = new URL(c!.url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => resolve(socket));
    socket.on('error', reject);
    sockets.push(socket);
  });
}

/** Resolves when `socket` is closed by the other side, with the bytes it received. */
function closedWith(socket: Socket): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    socket.on('data', (d: Buffer) => {
      text += d.toString('latin1');
    });
    socket.on('error', () => undefined);
    socket.on('close', () => resolve(text));
  });
}

const invalidUtf8 = new Uint8Array([0x7b, 0xc0, 0xaf, 0x7d]);

describe.each([
  ['/v1/events', `/v1/events?key=${KEY_A}`],
  ['/v1/worker', '/v1/worker'],
])('malformed frames on %s close that socket only', (_name, path) => {
  test.each([
    [
      'a message over the size limit',
      1009,
      (ws: Awaited<ReturnType<typeof openRawWs>>) => ws.frame(0x2, new Uint8Array(3 << 20)),
    ],
    [
      'a text frame that is not UTF-8',
      1007,
      (ws: Awaited<ReturnType<typeof openRawWs>>) => ws.frame(0x1, invalidUtf8),
    ],
    [
      'a frame with RSV1 set (no extension agreed)',
      1002,
      (ws: Awaited<ReturnType<typeof openRawWs>>) => ws.frame(0x2, new Uint8Array(4), { rsv: 4 }),
    ],
    [
      'an unmasked client frame',
      1002,
      (ws: Awaited<ReturnType<typeof openRawWs>>) => ws.frame(0x2, new Uint8Array(4), { mask: false }),
    ],
    [
      'an unknown opcode',
      1002,
      (ws: Awaited<ReturnType<typeof openRawWs>>) => ws.frame(0x3, new Uint8Array(4)),
    ],
  ])('%s → close %i, and the coordinator serves on', async (what, code, send) => {
    c = await startTest();
    const ws = await openRawWs(c.url, path);
    send(ws);
    expect(await ws.closed).toBe(code);
    await stillServes(`after-${path.slice(4, 10)}-${code}-${what.length}`);
  });
});

test('an upgrade to an unknown path, or without a key on /v1/events, is refused with a JSON error', async () => {
  c = await startTest();
  await expect(openRawWs(c.url, '/v1/nothing')).rejects.toThrow('HTTP/1.1 404');
  await expect(openRawWs(c.url, '/v1/events')).rejects.toThrow('HTTP/1.1 401');
  await stillServes('after-refused-upgrades');
});

describe('pages', () => {
  test.each(['/%zz', '/dashboard/%c0%af', '/assets/%ff.js'])(
    'malformed percent-encoding %s → 400',
    async (path) => {
      c = await startTest();
      const res = await fetch(`${c.url}${path}`);
      expect(res.status).toBe(400);
      expect(((await res.json()) as Json).error).toMatchObject({ code: 'INVALID_ARGUMENT', field: 'path' });
    },
  );
});

describe('HTTP limits are enforced as documented', () => {
  test('headers that do not arrive within the headers timeout: 408 and the connection closes', async () => {
    c = await startTest({ headersTimeoutMs: 1000 });
    const socket = await tcp();
    const started = Date.now();
    const closed = closedWith(socket);
    socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n');
    const answer = await closed;
    const elapsed = Date.now() - started;
    expect(answer.startsWith('HTTP/1.1 408')).toBe(true);
    expect(elapsed).toBeGreaterThanOrEqual(900);
    // Node checks every second here (its default, 30 s, made a 10 s timeout fire at ~35 s).
    expect(elapsed).toBeLessThan(3000);
    await stillServes('after-slow-headers');
  });

  test('a body that stalls past the idle timeout is cut', async () => {
    c = await startTest({ idleTimeoutMs: 500, headersTimeoutMs: 400 });
    const socket = await tcp();
    const closed = closedWith(socket);
    socket.write(
      `POST /v1/tasks HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${KEY_A}\r\n` +
        'Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"task_id":',
    );
    const started = Date.now();
    await closed;
    expect(Date.now() - started).toBeLessThan(3000);
  });

  test('an over-limit body gets 413 and the connection closes without reading the rest', async () => {
    c = await startTest({ maxBodyBytes: 64 << 10 });
    const socket = await tcp();
    const closed = closedWith(socket);
    socket.write(
      `POST /v1/tasks HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${KEY_A}\r\n` +
        `Content-Type: application/json\r\nContent-Length: ${100 << 20}\r\n\r\n`,
    );
    // Keep sending: the server must not read 100 MiB before it closes.
    let sent = 0;
    const chunk = Buffer.alloc(64 << 10, 0x20);
    const pump = setInterval(() => {
      if (socket.destroyed || !socket.writable) return clearInterval(pump);
      socket.write(chunk);
      sent += chunk.length;
    }, 5);
    const answer = await closed;
    clearInterval(pump);
    expect(answer.startsWith('HTTP/1.1 413')).toBe(true);
    expect(answer).toContain('"code":"BODY_TOO_LARGE"');
    expect(answer.toLowerCase()).toContain('connection: close');
    expect(sent).toBeLessThan(100 << 20);
    await stillServes('after-413');
  });

  test('connections per address are capped; others keep theirs', async () => {
    c = await startTest({ maxConnectionsPerAddress: 3 });
    const held = await Promise.all([tcp(), tcp(), tcp()]);
    const fourth = await tcp();
    await closedWith(fourth);
    expect(held.every((s) => !s.destroyed)).toBe(true);
    for (const s of held) s.destroy();
    await until(
      async () => (await c!.api('/healthz').catch(() => undefined))?.status === 200,
      5000,
      'a slot',
    );
  });

  test('the global connection cap closes connections over it', async () => {
    c = await startTest({ maxConnections: 2 });
    await Promise.all([tcp(), tcp()]);
    const third = await tcp();
    await closedWith(third);
  });
});

describe('volunteer connections per client address (through a trusted proxy)', () => {
  const from = (ip: string) => ({ 'X-Forwarded-For': `198.51.100.1, ${ip}` });

  test('WebSockets per forwarded address are capped with 429 TOO_MANY_CONNECTIONS', async () => {
    c = await startTest({ maxConnectionsPerAddress: 2, trustedProxies: ['127.0.0.1'] });
    const a = await openRawWs(c.url, '/v1/worker', from('203.0.113.7'));
    await openRawWs(c.url, '/v1/worker', from('203.0.113.7'));
    await expect(openRawWs(c.url, '/v1/worker', from('203.0.113.7'))).rejects.toThrow('HTTP/1.1 429');
    // Another client behind the same proxy is not affected.
    await openRawWs(c.url, '/v1/worker', from('203.0.113.8'));
    a.socket.destroy();
    await until(
      () =>
        openRawWs(c!.url, '/v1/worker', from('203.0.113.7')).then(
          () => true,
          () => false,
        ),
      5000,
      'a freed slot',
    );
  });

  test('hellos per address per minute are capped with 429 RATE_LIMITED and Retry-After', async () => {
    c = await startTest({ hellosPerMinute: 3, trustedProxies: ['127.0.0.0/8'] });
    for (let i = 0; i < 3; i++) (await openRawWs(c.url, '/v1/worker', from('203.0.113.9'))).socket.destroy();
    const { hostname, port } = new URL(c.url);
    const socket = connect(Number(port), hostname);
    sockets.push(socket);
    const answer = closedWith(socket);
    socket.write(
      `GET /v1/worker HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n' +
        'X-Forwarded-For: 203.0.113.9\r\n\r\n',
    );
    const text = await answer;
    expect(text.startsWith('HTTP/1.1 429')).toBe(true);
    expect(text).toContain('"code":"RATE_LIMITED"');
    expect(text).toMatch(/Retry-After: [1-9]\d*/);
  });

  test('X-Forwarded-For from a peer that is not a trusted proxy is ignored', async () => {
    c = await startTest({ hellosPerMinute: 2 });
    await openRawWs(c.url, '/v1/worker', from('203.0.113.10'));
    await openRawWs(c.url, '/v1/worker', from('203.0.113.11'));
    await expect(openRawWs(c.url, '/v1/worker', from('203.0.113.12'))).rejects.toThrow('HTTP/1.1 429');
  });
});
