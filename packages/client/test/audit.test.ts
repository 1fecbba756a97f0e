// The audit log and replays through the SDK (audit, replay, replayStatus) and the CLI (`flock
// audit`, `flock replay`), against a real coordinator and a simulated volunteer: exact rows, a
// replay of a WASM task whose output hash equals the original's, usage errors and exit codes.
import { createHash } from 'node:crypto';
import { EVENTS } from '@flock/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FlockClient, FlockError } from '../src/index.ts';
import { runCli } from './support/run-cli.ts';
import { KEY, OTHER_KEY, startTestCoordinator, type TestCoordinator } from './support/test-coordinator.ts';

let env: TestCoordinator;
let client: FlockClient;
const sha = (text: string): string => createHash('sha256').update(text).digest('hex');

beforeAll(async () => {
  env = await startTestCoordinator();
  client = new FlockClient({ url: env.url, apiKey: KEY });
  const task = await client.submit({
    task_id: 'au-1',
    op: 'sum',
    module: env.module,
    requirements: { min: { wasm: true } },
    inputs: [{ name: 'input', inline_bytes: new Uint8Array([9, 9, 9]) }],
  });
  await task.wait();
});
afterAll(async () => {
  await env?.close();
});

const flock = (args: string[], key = KEY) => runCli(args, { url: env.url, key });
/** The sum volunteer's output hash over bytes summing to `sum`. */
const sumHash = (sum: number) => `sha256:${sha(`3:sum=sha256:${sha(String(sum))}\n`)}`;

describe('audit', () => {
  it("client.audit reads a task's transitions with its output hash and worker", async () => {
    const page = await client.audit({ task_id: 'au-1' });
    expect(page.next).toBeUndefined();
    expect(page.entries.map((e) => [e.from, e.to, e.topic, e.attempt])).toEqual([
      [null, 'queued', EVENTS.requested, null],
      ['queued', 'running', EVENTS.accepted, 1],
      ['running', 'succeeded', EVENTS.success, 1],
    ]);
    expect(page.entries[2]!.output_hash).toBe(sumHash(27));
    expect(page.entries[2]!.worker?.id).toBe(env.volunteer.workerId);
    expect(page.entries[2]!.input_hash).toBe(page.entries[0]!.input_hash);
    const paged = await client.audit({ task_id: 'au-1', limit: 2 });
    expect(paged.entries).toHaveLength(2);
    expect((await client.audit({ task_id: 'au-1', after: paged.next! })).entries).toEqual([page.entries[2]]);
    const other = new FlockClient({ url: env.url, apiKey: OTHER_KEY });
    await expect(other.audit({ task_id: 'au-1' })).rejects.toMatchObject({ code: 'NOT_FOUND', status: 404 });
    await expect(client.audit({ since: 'yesterday' })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      status: 400,
    });
  });

  it('flock audit --task prints one row per transition; --json the rows as the API gives them', async () => {
    const run = await flock(['audit', '--task', 'au-1']);
    expect(run.code).toBe(0);
    const lines = run.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^TIME\s+TASK\s+TRANSITION\s+CODE\s+ATTEMPT\s+WORKER\s+ENVIRONMENT\s+OUTPUT$/);
    expect(lines.slice(1).map((l) => l.split(/\s{2,}/).slice(1, 5))).toEqual([
      ['au-1', '- > queued', '-', '-'],
      ['au-1', 'queued > running', '-', '1'],
      ['au-1', 'running > succeeded', '-', '1'],
    ]);
    expect(lines[3]).toContain(env.volunteer.workerId);
    const json = await flock(['audit', '--task', 'au-1', '--json']);
    expect(JSON.parse(json.stdout)).toEqual({ entries: (await client.audit({ task_id: 'au-1' })).entries });
    expect((await flock(['audit', 'extra'])).code).toBe(2);
    const unknown = await flock(['audit', '--task', 'au-none']);
    expect(unknown).toMatchObject({ code: 4, stdout: '' });
    expect(unknown.stderr).toContain('no task "au-none"');
  });
});

describe('replay', () => {
  it('client.replay re-runs a WASM task; its output hash equals the original', async () => {
    const made = await client.replay({ task_id: 'au-1' });
    expect(made).toMatchObject({
      replay_id: 'au-1@replay-1',
      source: { kind: 'task', id: 'au-1' },
      pairs: [{ original: 'au-1', replay: 'au-1@replay-1' }],
    });
    await expect.poll(async () => (await client.replayStatus('au-1@replay-1')).done).toBe(true);
    const status = await client.replayStatus('au-1@replay-1');
    expect(status.pairs).toEqual([
      {
        original: { task_id: 'au-1', state: 'succeeded', output_hash: sumHash(27) },
        replay: { task_id: 'au-1@replay-1', state: 'succeeded', output_hash: sumHash(27) },
        equal: true,
      },
    ]);
    expect(status.equal).toBe(true);
    expect(() => client.replayStatus('')).toThrow(FlockError);
  });

  it('flock replay --task --wait compares the outputs and exits 0; usage errors exit 2, unknown 4', async () => {
    const run = await flock(['replay', '--task', 'au-1', '--wait', '--timeout', '10000']);
    expect(run.code).toBe(0);
    expect(run.stdout.split('\n')[0]).toBe('au-1@replay-2');
    expect(run.stdout).toMatch(/au-1\s+au-1@replay-2\s+succeeded\s+equal/);
    const status = await flock(['replay', 'status', 'au-1@replay-2', '--json']);
    expect(JSON.parse(status.stdout)).toMatchObject({ replay_id: 'au-1@replay-2', done: true, equal: true });
    expect((await flock(['replay'])).code).toBe(2);
    expect((await flock(['replay', '--task', 'a', '--campaign', 'b'])).code).toBe(2);
    expect((await flock(['replay', '--task', 'missing'])).code).toBe(4);
    expect((await flock(['replay', 'status', 'missing@replay-1'])).code).toBe(4);
  });
});
