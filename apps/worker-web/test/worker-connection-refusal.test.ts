// A tab the coordinator refuses for good (an origin it does not allow, a protocol version it does not
// speak) stops reconnecting until `retry()`; any other close is retried. Run against a real
// coordinator, with `ws` standing in for the browser's WebSocket and sending a page's Origin.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type RunningCoordinator, startCoordinator } from '@flock/coordinator';
import { SIM_CAPABILITY } from '@flock/coordinator/sim';
import type { Hello } from '@flock/protocol';
import { afterEach, describe, expect, test } from 'vitest';
import WebSocket from 'ws';
import { refusalOf } from '../src/refusal.ts';
import { type ConnectionState, WorkerConnection } from '../src/worker-connection.ts';

const PAGE_ORIGIN = 'https://volunteers.example.org';

/** `ws` sending the Origin header a page served from PAGE_ORIGIN sends. */
class PageSocket extends WebSocket {
  constructor(url: string) {
    super(url, { origin: PAGE_ORIGIN });
  }
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function coordinator(): Promise<RunningCoordinator> {
  const dir = mkdtempSync(join(tmpdir(), 'flock-tab-refusal-'));
  const flock = await startCoordinator({
    port: 0,
    dataDir: dir,
    logLevel: 'silent',
    apiKeys: new Map([['key-refusal-0123456789', 'acme']]),
    pagesDir: join(dir, 'no-pages'),
  });
  cleanups.push(
    () => rmSync(dir, { recursive: true, force: true }),
    () => flock.close(),
  );
  const previous = (globalThis as { WebSocket?: unknown }).WebSocket;
  (globalThis as { WebSocket?: unknown }).WebSocket = PageSocket;
  cleanups.push(() => {
    (globalThis as { WebSocket?: unknown }).WebSocket = previous;
  });
  return flock;
}

/** A connection to `flock` saying `hello`, with every state it reports kept in order. */
function connect(
  flock: RunningCoordinator,
  hello: Hello = { protocol_version: 1, capability: SIM_CAPABILITY },
) {
  const states: Array<[ConnectionState, string]> = [];
  const connection = new WorkerConnection(`${flock.url.replace('http', 'ws')}/v1/worker`, {
    hello: async () => hello,
    welcome: () => undefined,
    frame: () => undefined,
    leases: () => [],
    state: (state, detail) => states.push([state, detail]),
  });
  connection.start();
  cleanups.push(() => connection.stop());
  return { connection, states };
}

test('an origin the coordinator does not allow stops the reconnecting until retry(), which connects once allowed', async () => {
  const flock = await coordinator();
  const { connection, states } = connect(flock);
  const url = `${flock.url.replace('http', 'ws')}/v1/worker`;

  await expect.poll(() => states.at(-1)?.[0]).toBe('refused');
  // Refused in the same close handler that would have scheduled a reconnect (and said 'reconnecting').
  expect(states).toEqual([
    ['connecting', url],
    ['refused', 'ORIGIN_NOT_ALLOWED'],
  ]);
  expect(connection.refusal).toBe('ORIGIN_NOT_ALLOWED');
  expect(connection.open).toBe(false);

  // The operator adds the page's origin (FLOCK_ALLOWED_ORIGINS); the person presses Try again.
  flock.config.allowedOrigins.push(PAGE_ORIGIN);
  connection.retry();
  await expect.poll(() => connection.open).toBe(true);
  expect(connection.refusal).toBeUndefined();
  expect(states.slice(2).map(([state]) => state)).toEqual(['connecting', 'open']);
});

test('a protocol version the coordinator does not speak is a refusal too', async () => {
  const flock = await coordinator();
  flock.config.allowedOrigins.push(PAGE_ORIGIN);
  const { connection, states } = connect(flock, { protocol_version: 2, capability: SIM_CAPABILITY });

  await expect.poll(() => states.at(-1)?.[0]).toBe('refused');
  expect(states.map(([state, detail]) => (state === 'refused' ? detail : state))).toEqual([
    'connecting',
    'UNSUPPORTED_VERSION',
  ]);
  expect(connection.refusal).toBe('UNSUPPORTED_VERSION');
});

test('a dropped connection is no refusal: it reconnects on its own', async () => {
  const flock = await coordinator();
  flock.config.allowedOrigins.push(PAGE_ORIGIN);
  const { connection, states } = connect(flock);
  await expect.poll(() => connection.open).toBe(true);

  connection.drop();
  await expect
    .poll(() => states.map(([state]) => state))
    .toEqual(['connecting', 'open', 'reconnecting', 'reconnecting', 'open']);
  expect(connection.refusal).toBeUndefined();
});

describe('refusalOf', () => {
  test('names the closes that reconnecting cannot cure, by close code and reason both', () => {
    expect(refusalOf(1008, 'ORIGIN_NOT_ALLOWED')).toBe('ORIGIN_NOT_ALLOWED');
    expect(refusalOf(1002, 'UNSUPPORTED_VERSION')).toBe('UNSUPPORTED_VERSION');
  });

  test('leaves every other close to the reconnecting', () => {
    expect(refusalOf(1002, 'ORIGIN_NOT_ALLOWED')).toBeUndefined();
    expect(refusalOf(1008, 'RATE_LIMITED')).toBeUndefined();
    expect(refusalOf(1008, 'HELLO_TIMEOUT')).toBeUndefined();
    expect(refusalOf(1008, 'session resumed elsewhere')).toBeUndefined();
    expect(refusalOf(1006, '')).toBeUndefined();
    expect(refusalOf(1008, 'toString')).toBeUndefined();
  });
});
