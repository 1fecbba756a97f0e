// biome-ignore-all lint/suspicious/noTemplateCurlyInString: workflow references are `${…}` in plain strings
// Workflows from the SDK (`client.workflow(def)`: status, events, result) and the CLI (`flock
// workflow run --wait`, `flock workflow status`) against a real coordinator and volunteer.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { FlockClient } from '../src/flock-client.ts';
import { FlockError } from '../src/flock-error.ts';
import { runCli } from './support/run-cli.ts';
import { KEY, startTestCoordinator, type TestCoordinator } from './support/test-coordinator.ts';

let env: TestCoordinator;
let dir: string;
let client: FlockClient;

beforeAll(async () => {
  env = await startTestCoordinator();
  dir = await mkdtemp(join(tmpdir(), 'flock-wf-'));
  client = new FlockClient({ url: env.url, apiKey: KEY, WebSocket });
});

afterAll(async () => {
  await env?.close();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

const step = (id: string, extra: Record<string, unknown> = {}) => ({
  id,
  op: 'sum',
  module: env.module,
  requirements: { min: { wasm: true } },
  inputs: [{ name: 'input', inline_bytes: 'AQID' }],
  ...extra,
});

/** a sums 1+2+3 = 6; b sums the bytes of "6" (54). */
const chain = (id: string) => ({
  workflow_id: id,
  steps: [step('a'), step('b', { inputs: [{ name: 'prev', uri: '${steps.a.outputs.sum}' }] })],
});

const flock = (args: string[]) => runCli(args, { url: env.url, key: KEY });

describe('client.workflow', () => {
  it('result() waits and returns each step’s result by step id', async () => {
    const wf = await client.workflow(chain('sdk-chain'));
    expect(wf.id).toBe('sdk-chain');
    expect(wf.view?.state).toBe('running');
    const results = await wf.result({ timeoutMs: 15_000 });
    expect(Object.keys(results)).toEqual(['a', 'b']);
    expect(results.a?.summary).toMatchObject({ sum: '6' });
    expect(results.b?.summary).toMatchObject({ sum: '54' });
    const view = await wf.status();
    expect(view.steps?.map((s) => [s.id, s.state, s.task_ids])).toEqual([
      ['a', 'succeeded', ['sdk-chain.a']],
      ['b', 'succeeded', ['sdk-chain.b']],
    ]);
  });

  it('events() yields step changes, then the workflow’s end', async () => {
    const wf = await client.workflow(chain('sdk-events'));
    const topics: string[] = [];
    for await (const event of wf.events()) {
      const s = event.payload.step as { id: string; state: string } | undefined;
      topics.push(s ? `${s.id}:${s.state}` : event.topic);
    }
    expect(topics.at(-1)).toBe('compute:workflow:v1:succeeded');
    expect(topics).toContain('b:succeeded');
  });

  it('result() of a failed workflow throws WORKFLOW_FAILED with its code', async () => {
    const wf = await client.workflow({ workflow_id: 'sdk-fail', steps: [step('a', { op: 'fail' })] });
    const error = await wf.result({ timeoutMs: 15_000 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FlockError);
    expect((error as FlockError).code).toBe('WORKFLOW_FAILED');
    expect((error as FlockError).failure?.code).toBe('STEP_FAILED');
  });

  it('a bad definition is the coordinator’s 400 with the field', async () => {
    const error = (await client
      .workflow({ steps: [step('a', { depends_on: ['zz'] })] })
      .catch((e: unknown) => e)) as FlockError;
    expect([error.code, error.status, error.field]).toEqual([
      'INVALID_ARGUMENT',
      400,
      'steps[0].depends_on[0]',
    ]);
  });
});

describe('flock workflow', () => {
  it('run --wait --json follows the workflow and prints its final view; status shows the steps', async () => {
    const file = join(dir, 'pipeline.json');
    await writeFile(file, JSON.stringify(chain('cli-chain')));
    const run = await flock(['workflow', 'run', file, '--wait', '--json']);
    expect(run.code).toBe(0);
    const view = JSON.parse(run.stdout);
    expect(view).toMatchObject({ workflow_id: 'cli-chain', state: 'succeeded' });
    expect(view.steps.map((s: { state: string }) => s.state)).toEqual(['succeeded', 'succeeded']);
    const status = await flock(['workflow', 'status', 'cli-chain']);
    expect(status.code).toBe(0);
    const lines = status.stdout.split('\n');
    expect(lines[0]).toBe('cli-chain  succeeded');
    expect(lines[1]).toMatch(/^STEP\s+STATE\s+TASKS\s+MS\s+CODE$/);
    expect(lines[2]).toMatch(/^a\s+succeeded\s+1\s+\d+$/);
  });

  it('runs a YAML pipeline as it runs the same JSON', async () => {
    const file = join(dir, 'pipeline.yaml');
    const yaml = [
      'workflow_id: cli-yaml',
      'steps:',
      ...chain('cli-yaml').steps.map((s) => `  - ${JSON.stringify(s)}`),
      '',
    ].join('\n');
    await writeFile(file, yaml);
    const run = await flock(['workflow', 'run', file, '--wait', '--json']);
    expect(run.code).toBe(0);
    const view = JSON.parse(run.stdout);
    expect(view).toMatchObject({ workflow_id: 'cli-yaml', state: 'succeeded' });
    expect(view.steps.map((s: { id: string; state: string }) => [s.id, s.state])).toEqual([
      ['a', 'succeeded'],
      ['b', 'succeeded'],
    ]);
  });

  it('a failed workflow exits 1; malformed YAML is a usage error (2) naming its line; an unknown id 4', async () => {
    const file = join(dir, 'failing.json');
    await writeFile(file, JSON.stringify({ workflow_id: 'cli-fail', steps: [step('a', { op: 'fail' })] }));
    const run = await flock(['workflow', 'run', file, '--wait']);
    expect(run.code).toBe(1);
    expect(run.stdout.split('\n')[0]).toBe(
      'cli-fail  failed  STEP_FAILED: step "a" failed: EXECUTION_ERROR: the kernel trapped',
    );
    const broken = join(dir, 'broken.yaml');
    await writeFile(broken, 'workflow_id: y\nsteps:\n  - id: a\n  - id: a\n    id: b\n');
    const yaml = await flock(['workflow', 'run', broken]);
    expect(yaml.code).toBe(2);
    expect(yaml.stderr).toMatch(/broken\.yaml: Map keys must be unique at line 5, column 5/);
    expect((await flock(['workflow', 'status', 'nope'])).code).toBe(4);
  });

  it('run --wait --timeout exits 6 when the workflow has not ended (it goes on running)', async () => {
    const file = join(dir, 'slow.json');
    await writeFile(file, JSON.stringify({ workflow_id: 'cli-slow', steps: [step('a', { op: 'slow' })] }));
    const run = await flock(['workflow', 'run', file, '--wait', '--timeout', '300']);
    // Before its last line, stderr may show "a: running".
    expect([run.code, run.stderr.trimEnd().split('\n').at(-1)]).toEqual([
      6,
      'flock: WAIT_TIMEOUT: workflow cli-slow did not end within 300 ms (it goes on)',
    ]);
    expect((await client.getWorkflow('cli-slow')).state).toBe('running');
    expect((await client.cancelWorkflow('cli-slow')).state).toBe('cancelled');
  });
});
