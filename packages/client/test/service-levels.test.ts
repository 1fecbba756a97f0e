// Service levels per op (`stats().ops`) and circuit breakers (`breakers`, `resetBreaker`), through
// the SDK and the CLI, against a real coordinator (in-process, SQLite in a temp dir) started with
// `breakerFailures: 2` and simulated volunteers speaking the real worker protocol. Exact counts:
// this coordinator runs only the tasks below, in order.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type RunningCoordinator, startCoordinator } from '@flock/coordinator';
import { type SimRunner, SimulatedVolunteer } from '@flock/coordinator/sim';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { type BreakerView, FlockClient, type StatsView } from '../src/index.ts';
import { runCli } from './support/run-cli.ts';
import { KEY, OTHER_KEY } from './support/test-coordinator.ts';

const COOLDOWN_MS = 3_600_000;

let dataDir: string;
let coordinator: RunningCoordinator;
let client: FlockClient;
/** Volunteers connected now (closed at the end). */
const volunteers: SimulatedVolunteer[] = [];
/** While true, every `sum` task fails non-retryably (the op is broken). */
let sumBroken = true;

/** `tally` fails only for `tally-0`; `sum` fails while `sumBroken`; everything else succeeds. */
const runner: SimRunner = (job) => {
  const { task_id: taskId, envelope } = job.assignment;
  const broken = (envelope?.op === 'sum' && sumBroken) || taskId === 'tally-0';
  return broken
    ? { failure: { code: 'FUEL_EXHAUSTED', message: 'out of fuel', retryable: false } }
    : { outputs: [] };
};

async function connectVolunteer(): Promise<SimulatedVolunteer> {
  const volunteer = await SimulatedVolunteer.connect({ url: coordinator.url, run: runner });
  volunteers.push(volunteer);
  return volunteer;
}

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'flock-client-slo-'));
  coordinator = await startCoordinator({
    port: 0,
    dataDir,
    apiKeys: new Map([
      [KEY, 'acme'],
      [OTHER_KEY, 'other'],
    ]),
    logLevel: 'silent',
    breakerFailures: 2,
    // The ops the simulated volunteer runs (no page ships them).
    extraOps: ['sum', 'tally'],
    breakerCooldownMs: COOLDOWN_MS,
    sloSuccess: 0.99,
    sloP95Ms: 0,
    sloWindowMs: 600_000,
  });
  client = new FlockClient({ url: coordinator.url, apiKey: KEY, WebSocket });
});

afterAll(async () => {
  for (const volunteer of volunteers) await volunteer.close();
  await coordinator?.close();
  if (dataDir !== undefined) await rm(dataDir, { recursive: true, force: true });
});

function envelope(taskId: string, op: string) {
  return {
    task_id: taskId,
    op,
    module: { kind: 'builtin' as const },
    requirements: { min: { wasm: true } },
    inputs: [{ name: 'x', inline_bytes: new Uint8Array([1, 2, 3, 4]) }],
  };
}

async function run(taskId: string, op: string): Promise<string> {
  const task = await client.submit(envelope(taskId, op));
  return (await task.wait({ timeoutMs: 20_000 })).state;
}

const flock = (args: string[]) => runCli(args, { url: coordinator.url, key: KEY });

/** A table's rows split into cells (columns are two or more spaces apart). */
const cells = (text: string): string[][] =>
  text
    .trimEnd()
    .split('\n')
    .map((line) => line.split(/\s{2,}/));

describe('service levels per op', () => {
  it('stats() lists each op with exact counts, its success rate and the target it misses', async () => {
    await connectVolunteer();
    expect((await client.stats()).ops).toEqual([]);
    // The failure first: the successes after it clear the op's breaker count.
    expect(await run('tally-0', 'tally')).toBe('failed');
    const states = await Promise.all(Array.from({ length: 19 }, (_, i) => run(`tally-${i + 1}`, 'tally')));
    expect(states).toEqual(Array.from({ length: 19 }, () => 'succeeded'));

    const stats = await client.stats();
    expect(stats.slo).toEqual({ p95_ms: 0, success: 0.99, window_ms: 600_000 });
    expect(stats.ops).toEqual([
      {
        op: 'tally',
        count: 20,
        succeeded: 19,
        failed: 1,
        success_rate: 0.95,
        p50_ms: expect.any(Number),
        p95_ms: expect.any(Number),
        // 20 outcomes: judged; 95 % is short of 99 %; no p95 target.
        violations: ['success'],
      },
    ]);
    const tally = stats.ops[0]!;
    expect(tally.p50_ms).toBeGreaterThanOrEqual(0);
    expect(tally.p95_ms).toBeGreaterThanOrEqual(tally.p50_ms);
    expect(await client.breakers()).toEqual([]);

    // The CLI prints the same as a table, and the whole view with --json.
    const text = await flock(['stats']);
    expect(text.code).toBe(0);
    const lines = text.stdout.split('\n');
    expect(lines[0]).toMatch(/^queue 0 {2}running 0 {2}workers \d+ {2}\d+\/min$/);
    expect(lines[2]).toBe('targets success ≥ 99% over 10 min');
    expect(cells(lines.slice(3).join('\n'))).toEqual([
      ['OP', 'TASKS', 'SUCCEEDED', 'FAILED', 'SUCCESS', 'P50 MS', 'P95 MS', 'MISSES'],
      ['tally', '20', '19', '1', '95%', String(tally.p50_ms), String(tally.p95_ms), 'success'],
    ]);
    const json = JSON.parse((await flock(['stats', '--json'])).stdout) as StatsView;
    expect(json.ops.map((l) => [l.op, l.count, l.succeeded, l.failed])).toEqual([['tally', 20, 19, 1]]);
  });
});

describe('circuit breakers', () => {
  it('opens after non-retryable failures on two distinct volunteers, holds the op, and resets', async () => {
    // One failure on the first volunteer, then one on a second: two distinct workers in a row.
    expect(await run('sum-1', 'sum')).toBe('failed');
    await volunteers.shift()!.close();
    await connectVolunteer();
    expect(await run('sum-2', 'sum')).toBe('failed');

    const open: BreakerView[] = await client.breakers();
    expect(open).toEqual([
      {
        op: 'sum',
        state: 'open',
        failed_workers: 2,
        last_code: 'FUEL_EXHAUSTED',
        held_tasks: 0,
        opened_at_ms: expect.any(Number),
        retry_at_ms: open[0]!.opened_at_ms! + COOLDOWN_MS,
      },
    ]);
    // Breakers are per tenant: another key sees none.
    const other = new FlockClient({ url: coordinator.url, apiKey: OTHER_KEY, WebSocket });
    expect(await other.breakers()).toEqual([]);

    // A new task of the op waits, held, and says why.
    const held = await client.submit(envelope('sum-3', 'sum'));
    const view = await held.status();
    expect(view.state).toBe('queued');
    expect(view.waiting_reason).toMatch(
      /^held: op sum failed non-retryably on 2 distinct volunteers in a row \(last FUEL_EXHAUSTED\);/,
    );
    expect((await client.breakers()).map((b) => [b.op, b.state, b.held_tasks])).toEqual([['sum', 'open', 1]]);
    const listed = await flock(['breakers']);
    expect(listed.code).toBe(0);
    expect(cells(listed.stdout)).toEqual([
      ['OP', 'STATE', 'FAILED ON', 'LAST CODE', 'HELD', 'RETRY AT'],
      ['sum', 'open', '2', 'FUEL_EXHAUSTED', '1', new Date(open[0]!.retry_at_ms!).toISOString()],
    ]);

    // The op is mended; the requester resets its breaker and the held task runs.
    sumBroken = false;
    expect(await client.resetBreaker('sum')).toEqual({ op: 'sum', state: 'closed' });
    expect((await held.wait({ timeoutMs: 20_000 })).state).toBe('succeeded');
    expect(await client.breakers()).toEqual([]);
    await expect(client.resetBreaker('sum')).rejects.toMatchObject({ code: 'NOT_FOUND', status: 404 });
    // Module ops hold a ':' and travel percent-encoded; the coordinator names the decoded op.
    await expect(client.resetBreaker('wasm:0123456789ab')).rejects.toMatchObject({
      code: 'NOT_FOUND',
      message: 'no open breaker for op "wasm:0123456789ab"',
    });
    await expect(client.resetBreaker('')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });

    // Every outcome counted: sum's two failures and the held task's success.
    const ops = (await client.stats()).ops.map((l) => [l.op, l.count, l.succeeded, l.failed, l.violations]);
    expect(ops).toEqual([
      ['sum', 3, 1, 2, []],
      ['tally', 20, 19, 1, ['success']],
    ]);
  });

  it('the CLI lists no breakers, and reset exits 4 when none is open, 2 on a bad command line', async () => {
    expect(await flock(['breakers'])).toEqual({ code: 0, stdout: 'no breakers\n', stderr: '' });
    expect(JSON.parse((await flock(['breakers', '--json'])).stdout)).toEqual({ breakers: [] });
    expect(await flock(['breakers', 'reset', 'sum'])).toEqual({
      code: 4,
      stdout: '',
      stderr: 'flock: NOT_FOUND: no open breaker for op "sum"\n',
    });
    const usage = await flock(['breakers', 'reset']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('usage: flock breakers reset <op>');
    expect((await flock(['breakers', 'close', 'sum'])).code).toBe(2);
  });

  it('the CLI resets an open breaker', async () => {
    sumBroken = true;
    const [first] = volunteers;
    expect(await run('sum-4', 'sum')).toBe('failed');
    await first!.close();
    volunteers.shift();
    await connectVolunteer();
    expect(await run('sum-5', 'sum')).toBe('failed');
    expect((await client.breakers()).map((b) => b.state)).toEqual(['open']);
    sumBroken = false;
    expect(await flock(['breakers', 'reset', 'sum'])).toEqual({
      code: 0,
      stdout: 'breaker of sum closed: its held tasks are queued again\n',
      stderr: '',
    });
    expect(await client.breakers()).toEqual([]);
    expect(await run('sum-6', 'sum')).toBe('succeeded');
  });
});
