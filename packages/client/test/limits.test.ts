// A tenant's limits as the SDK and the CLI report them: a 429's code and its Retry-After, against a
// real coordinator (in-process, SQLite in a temp dir) that allows one submission per 100 s.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type RunningCoordinator, startCoordinator } from '@flock/coordinator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliIo, main } from '../src/cli/main.ts';
import { FlockClient } from '../src/index.ts';

const KEY = 'key-limited-0123456789';
let dataDir: string;
let coordinator: RunningCoordinator;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'flock-client-limits-'));
  coordinator = await startCoordinator({
    port: 0,
    dataDir,
    apiKeys: new Map([[KEY, 'acme']]),
    logLevel: 'silent',
    extraOps: ['sum'],
    tenantSubmitRate: 0.01,
    tenantSubmitBurst: 1,
  });
});

afterAll(async () => {
  await coordinator?.close();
  await rm(dataDir, { recursive: true, force: true });
});

const envelope = (taskId: string) => ({
  task_id: taskId,
  op: 'sum',
  module: { kind: 'builtin' as const },
  requirements: { min: { wasm: true } },
});

describe('429 RATE_LIMITED', () => {
  it('the SDK gives the code and retryAfterMs; the CLI says when to retry and exits 2', async () => {
    const client = new FlockClient({ url: coordinator.url, apiKey: KEY });
    await client.submit(envelope('first'));
    const refused = await client.submit(envelope('second')).catch((e: unknown) => e);
    expect(refused).toMatchObject({ code: 'RATE_LIMITED', status: 429, retryAfterMs: 100_000 });
    const path = join(dataDir, 'third.json');
    await writeFile(path, JSON.stringify(envelope('third')));
    const err: string[] = [];
    const io: CliIo = {
      stdout: () => undefined,
      stderr: (t) => err.push(t),
      stderrIsTTY: false,
      env: { FLOCK_URL: coordinator.url, FLOCK_API_KEY: KEY },
      readStdin: async () => '',
    };
    expect(await main(['submit', path], io)).toBe(2);
    expect(err.join('')).toBe(
      'flock: RATE_LIMITED: more than 0.01 submissions a second (burst 1) from this tenant (retry after 100 s)\n',
    );
  });
});
