// What a real coordinator tells the tab of its standing: with spot checks off (FLOCK_SPOT_CHECKS=off)
// the welcome says so, so the page does not wait for a check that never comes; with them on (the
// default) a new device is "new". `ws` stands in for the browser's WebSocket.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCoordinator } from '@flock/coordinator';
import { SIM_CAPABILITY } from '@flock/coordinator/sim';
import type { Welcome } from '@flock/protocol';
import { afterEach, expect, test } from 'vitest';
import WebSocket from 'ws';
import { StandingTracker } from '../src/standing.ts';
import { WorkerConnection } from '../src/worker-connection.ts';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** The welcome a new tab gets from a coordinator with spot checks `spotChecks`. */
async function welcomeFrom(spotChecks: boolean): Promise<Welcome> {
  const dir = mkdtempSync(join(tmpdir(), 'flock-tab-standing-'));
  const flock = await startCoordinator({
    port: 0,
    dataDir: dir,
    logLevel: 'silent',
    apiKeys: new Map([['key-standing-0123456789', 'acme']]),
    pagesDir: join(dir, 'no-pages'),
    spotChecks,
  });
  cleanups.push(
    () => rmSync(dir, { recursive: true, force: true }),
    () => flock.close(),
  );
  const previous = (globalThis as { WebSocket?: unknown }).WebSocket;
  (globalThis as { WebSocket?: unknown }).WebSocket = WebSocket;
  cleanups.push(() => {
    (globalThis as { WebSocket?: unknown }).WebSocket = previous;
  });
  const welcomes: Welcome[] = [];
  const connection = new WorkerConnection(`${flock.url.replace('http', 'ws')}/v1/worker`, {
    hello: async () => ({ protocol_version: 1, capability: SIM_CAPABILITY }),
    welcome: (welcome) => welcomes.push(welcome),
    frame: () => undefined,
    leases: () => [],
    state: () => undefined,
  });
  connection.start();
  cleanups.push(() => connection.stop());
  await expect.poll(() => welcomes.length).toBe(1);
  return welcomes[0]!;
}

test('with spot checks off the welcome says the coordinator checks nobody, and the tab shows it', async () => {
  const welcome = await welcomeFrom(false);
  expect(welcome.standing?.unchecked).toBe(true);
  const tracker = new StandingTracker();
  tracker.observe({ welcome });
  expect(tracker.current?.status).toBe('unchecked');
});

test('with spot checks on (the default) a new device is not verified yet', async () => {
  const welcome = await welcomeFrom(true);
  expect(welcome.standing?.unchecked).toBeUndefined();
  const tracker = new StandingTracker();
  tracker.observe({ welcome });
  expect(tracker.current?.status).toBe('new');
});
