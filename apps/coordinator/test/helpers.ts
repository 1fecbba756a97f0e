import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ComputeEnvelope } from '@flock/protocol';
import type { CoordinatorConfig } from '../src/config.ts';
import { type RunningCoordinator, type StartOptions, startCoordinator } from '../src/start-coordinator.ts';

export const KEY_A = 'key-alpha-0123456789';
export const KEY_B = 'key-bravo-0123456789';

// biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary JSON bodies and assert on them
export type Json = any;

/** A fetch Response whose json() is typed loosely for assertions. */
export interface JsonResponse extends Response {
  json(): Promise<Json>;
}

export interface TestCoordinator extends RunningCoordinator {
  dataDir: string;
  /** fetch against the coordinator with tenant A's key (or `key`). */
  api(path: string, init?: RequestInit & { key?: string | null; json?: unknown }): Promise<JsonResponse>;
  stop(): Promise<void>;
}

/** A coordinator on a free port with a temp data dir and two tenants (a, b). */
export async function startTest(
  overrides: Partial<CoordinatorConfig> = {},
  dataDir?: string,
  options: StartOptions = {},
): Promise<TestCoordinator> {
  const dir = dataDir ?? mkdtempSync(join(tmpdir(), 'flock-coord-'));
  const running = await startCoordinator(
    {
      port: 0,
      dataDir: dir,
      logLevel: 'silent',
      apiKeys: new Map([
        [KEY_A, 'a'],
        [KEY_B, 'b'],
      ]),
      pagesDir: join(dir, 'no-pages'),
      // The op the simulated volunteers run (it sums the input bytes); no page ships it.
      extraOps: ['sum'],
      ...overrides,
    },
    options,
  );
  return {
    ...running,
    dataDir: dir,
    api(path, init = {}) {
      const { key, json, ...rest } = init;
      const headers = new Headers(rest.headers);
      if (key !== null) headers.set('authorization', `Bearer ${key ?? KEY_A}`);
      if (json !== undefined) headers.set('content-type', 'application/json');
      return fetch(`${running.url}${path}`, {
        ...rest,
        headers,
        ...(json !== undefined ? { body: JSON.stringify(json) } : {}),
      }) as Promise<JsonResponse>;
    },
    async stop() {
      await running.close();
      if (!dataDir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A small CPU task in the JSON view; `extra` is merged at top level. */
export function envelope(taskId: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    task_id: taskId,
    op: 'sum',
    module: { kind: 'builtin' },
    requirements: { min: { wasm: true } },
    inputs: [{ name: 'x', inline_bytes: Buffer.from([1, 2, 3, 4]).toString('base64') }],
    ...extra,
  };
}

export function envelopeObj(taskId: string): ComputeEnvelope {
  return {
    task_id: taskId,
    op: 'sum',
    module: { kind: 'builtin' },
    requirements: { min: { wasm: true } },
    inputs: [{ name: 'x', inline_bytes: new Uint8Array([1, 2, 3, 4]) }],
  };
}

/** Polls `fn` until it returns a truthy value (no fixed sleeps). */
export async function until<T>(
  fn: () => T | Promise<T>,
  timeoutMs = 10_000,
  what = 'condition',
): Promise<NonNullable<T>> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value) return value as NonNullable<T>;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export async function taskState(c: TestCoordinator, taskId: string, key?: string): Promise<string> {
  const res = await c.api(`/v1/tasks/${encodeURIComponent(taskId)}`, key ? { key } : {});
  return ((await res.json()) as { state: string }).state;
}
