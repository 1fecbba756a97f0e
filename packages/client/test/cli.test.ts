// The `flock` CLI against a real coordinator: commands run in-process through `main` (exact
// stdout and exit codes), and once through the real bin (`npx flock`) to check the wiring.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './support/run-cli.ts';
import { KEY, startTestCoordinator, type TestCoordinator } from './support/test-coordinator.ts';

let env: TestCoordinator;
let dir: string;

beforeAll(async () => {
  env = await startTestCoordinator();
  dir = await mkdtemp(join(tmpdir(), 'flock-cli-'));
});

afterAll(async () => {
  await env?.close();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

const flock = (args: string[], options: { key?: string; stdin?: string; tty?: boolean } = {}) =>
  runCli(args, { url: env.url, key: options.key ?? KEY, ...options });

function envelopeJson(taskId: string, op: string, base64 = 'AQID') {
  return JSON.stringify({
    task_id: taskId,
    op,
    module: env.module,
    requirements: { min: { wasm: true } },
    inputs: [{ name: 'input', content_type: 'application/octet-stream', inline_bytes: base64 }],
  });
}

describe('flock CLI', () => {
  it('submit --wait --json follows the task to the end: its view with the result; exits 0', async () => {
    const file = join(dir, 'sum.json');
    await writeFile(file, envelopeJson('cli-sum-1', 'sum'));
    const run = await flock(['submit', file, '--wait', '--json']);
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({
      task_id: 'cli-sum-1',
      state: 'succeeded',
      result_available: true,
      result: { task_id: 'cli-sum-1', outputs: [{ name: 'sum', inline_json: '6' }], summary: { sum: '6' } },
    });
  });

  it('status, result (stdout and --out) and --json output', async () => {
    const status = await flock(['status', 'cli-sum-1']);
    expect(status.code).toBe(0);
    expect(status.stdout.split('\n')[0]).toBe('cli-sum-1  succeeded  op=sum  module=wasm');
    const result = await flock(['result', 'cli-sum-1']);
    expect(result).toEqual({ code: 0, stdout: 'sum: 6\nsummary sum=6 bytes=3\n', stderr: '' });
    const out = join(dir, 'out');
    expect((await flock(['result', 'cli-sum-1', '--out', out])).code).toBe(0);
    expect(await readFile(join(out, 'sum'), 'utf8')).toBe('6');
    const json = await flock(['result', 'cli-sum-1', '--json']);
    expect(JSON.parse(json.stdout)).toMatchObject({
      task_id: 'cli-sum-1',
      outputs: [{ name: 'sum', content_type: 'application/json', inline_json: '6' }],
    });
  });

  it('submit --traceparent: the task joins that trace; its result names it (#19)', async () => {
    const trace = '0af7651916cd43dd8448eb211c80319c';
    const run = await flock(['submit', '-', '--wait', '--traceparent', `00-${trace}-b7ad6b7169203331-01`], {
      stdin: envelopeJson('cli-trace-1', 'sum'),
    });
    expect(run.code).toBe(0);
    const json = await flock(['result', 'cli-trace-1', '--json']);
    expect(JSON.parse(json.stdout).correlation_id).toBe(trace);
    // map, with the trace from env TRACEPARENT: every task joins it.
    const wasm = join(dir, 'trace.wasm');
    await writeFile(wasm, new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]));
    const input = join(dir, 'trace-in.bin');
    await writeFile(input, new Uint8Array([5]));
    const other = '1bf92f3577b34da6a3ce929d0e0e4736';
    const map = await runCli(['map', '--wasm', wasm, '--campaign', 'cli-trace-map', input], {
      url: env.url,
      key: KEY,
      env: { TRACEPARENT: `00-${other}-b7ad6b7169203331-01` },
    });
    expect(map.code).toBe(0);
    const mapped = await flock(['result', 'cli-trace-map-0', '--json']);
    expect(JSON.parse(mapped.stdout).correlation_id).toBe(other);
  });

  it('submit from stdin, then cancel the running task; cancelling again exits 2 (ALREADY_FINISHED)', async () => {
    const submitted = await flock(['submit', '-'], { stdin: envelopeJson('cli-slow-1', 'slow') });
    expect(submitted.code).toBe(0);
    await expect.poll(() => env.running.has('cli-slow-1')).toBe(true);
    const early = await flock(['result', 'cli-slow-1']);
    expect(early.code).toBe(2);
    expect(early.stderr).toMatch(/^flock: NOT_READY: .+; add --wait to wait for the result\n$/);
    const impatient = await flock(['result', 'cli-slow-1', '--wait', '--timeout', '300']);
    expect(impatient.code).toBe(6);
    expect(impatient.stderr).toBe(
      'flock: WAIT_TIMEOUT: task cli-slow-1 did not end within 300 ms (it goes on)\n',
    );
    const cancelled = await flock(['cancel', 'cli-slow-1', '--json']);
    expect(cancelled.code).toBe(0);
    expect(JSON.parse(cancelled.stdout)).toMatchObject({ task_id: 'cli-slow-1', state: 'cancelled' });
    const again = await flock(['cancel', 'cli-slow-1']);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/^flock: ALREADY_FINISHED: /);
    // Its result, without --wait: the task's end (exit 1), not NOT_READY's "add --wait".
    const ended = await flock(['result', 'cli-slow-1']);
    expect(ended.code).toBe(1);
    expect(ended.stderr).toBe('');
    expect(ended.stdout).toContain('cli-slow-1  cancelled  op=slow  module=wasm\n');
    expect(ended.stdout).toContain('failure CANCELLED: cancelled by requester\n');
  });

  it('exits 1 for a failed task, 3 for a bad key, 4 for an unknown task', async () => {
    const failed = await flock(['submit', '-', '--wait'], { stdin: envelopeJson('cli-fail-1', 'fail') });
    expect(failed.code).toBe(1);
    expect(failed.stdout).toContain('failure EXECUTION_ERROR: the kernel trapped');
    const result = await flock(['result', 'cli-fail-1', '--wait']);
    expect(result.code).toBe(1);
    const unwaited = await flock(['result', 'cli-fail-1']);
    expect(unwaited.code).toBe(1);
    expect(unwaited.stdout).toContain('failure EXECUTION_ERROR: the kernel trapped\n');
    const exited = await flock(['submit', '-', '--wait'], { stdin: envelopeJson('cli-exit-1', 'exit3') });
    const program = await flock(['result', 'cli-exit-1']);
    expect(program).toEqual({ code: 3, stdout: 'sum: 6\nsummary sum=6 bytes=3 exit_code=3\n', stderr: '' });
    // submit --wait exits as `result` does, the program's status, and prints its view, then what
    // `result` prints; with --json, the view with `result --json`'s document as `result`.
    expect([exited.code, exited.stderr]).toEqual([3, '']);
    expect(exited.stdout).toMatch(/^cli-exit-1 {2}succeeded {2}op=exit3 {2}module=wasm\n/);
    expect(exited.stdout.endsWith(`\n${program.stdout}`)).toBe(true);
    const exitedJson = await flock(['submit', '-', '--wait', '--json'], {
      stdin: envelopeJson('cli-exit-2', 'exit3'),
    });
    expect(exitedJson.code).toBe(3);
    const resultJson = await flock(['result', 'cli-exit-2', '--json']);
    expect(resultJson.code).toBe(3);
    expect(JSON.parse(exitedJson.stdout)).toMatchObject({
      task_id: 'cli-exit-2',
      state: 'succeeded',
      result: JSON.parse(resultJson.stdout),
    });
    // A collected tree comes back as a tree under --out, and nothing lands outside it.
    expect((await flock(['submit', '-', '--wait'], { stdin: envelopeJson('cli-tree-1', 'tree') })).code).toBe(
      0,
    );
    const tree = join(dir, 'tree');
    expect((await flock(['result', 'cli-tree-1', '--out', tree])).code).toBe(0);
    expect((await readdir(tree, { recursive: true })).sort()).toEqual([
      'data',
      'data/summary.txt',
      'output',
      'output/output',
      'output/output/escape',
      'results',
      'results/count.txt',
    ]);
    expect(await readFile(join(tree, 'data/summary.txt'), 'utf8')).toBe('data/summary.txt');
    expect(await readFile(join(tree, 'output/output/escape'), 'utf8')).toBe('../../escape');
    const badKey = await flock(['status', 'cli-sum-1'], { key: 'wrong' });
    expect(badKey.code).toBe(3);
    expect(badKey.stderr).toMatch(/^flock: UNAUTHENTICATED: the API key was refused/);
    const missing = await flock(['status', 'no-such-task', '--json']);
    expect(missing.code).toBe(4);
    expect(JSON.parse(missing.stdout)).toMatchObject({ error: { code: 'NOT_FOUND' } });
  });

  it('map runs one task per input file with a progress bar on a terminal, and writes outputs', async () => {
    const wasm = join(dir, 'mod.wasm');
    await writeFile(wasm, new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]));
    const inputs = [1, 2, 3].map((n) => join(dir, `in-${n}.bin`));
    await Promise.all(inputs.map((path, i) => writeFile(path, new Uint8Array(i + 1).fill(i + 1))));
    const out = join(dir, 'map-out');
    const run = await flock(
      ['map', '--wasm', wasm, '--concurrency', '2', '--campaign', 'cli-map-1', '--out', out, ...inputs],
      { tty: true },
    );
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(
      [
        `cli-map-1-0  succeeded  ${inputs[0]}`,
        `cli-map-1-1  succeeded  ${inputs[1]}`,
        `cli-map-1-2  succeeded  ${inputs[2]}`,
        '3/3 succeeded',
        '',
      ].join('\n'),
    );
    expect(run.stderr).toContain('[........................]   0%  0/3 done');
    expect(run.stderr).toContain('[########################] 100%  3/3 done');
    expect(await readFile(join(out, 'in-3.bin.sum'), 'utf8')).toBe('9');
  });

  it('map --builtin names the inputs and runs on a volunteer without WebGPU (WASM fallback)', async () => {
    const files = [join(dir, 'x0.f32'), join(dir, 'x1.f32')];
    await writeFile(files[0]!, new Uint8Array([1, 1]));
    await writeFile(files[1]!, new Uint8Array([2, 2, 2]));
    const run = await flock([
      'map',
      '--builtin',
      'sum',
      '--input-name',
      'x',
      '--campaign',
      'cli-map-2',
      '--json',
      ...files,
    ]);
    expect(run.code).toBe(0);
    const { outcomes } = JSON.parse(run.stdout) as {
      outcomes: Array<{
        task_id: string;
        state: string;
        result: { outputs: Array<{ inline_json: string }> };
      }>;
    };
    expect(outcomes.map((o) => [o.task_id, o.state, o.result.outputs[0]!.inline_json])).toEqual([
      ['cli-map-2-0', 'succeeded', '2'],
      ['cli-map-2-1', 'succeeded', '6'],
    ]);
    const assignment = env.volunteer.assignments.find((a) => a.task_id === 'cli-map-2-0');
    expect(assignment?.envelope?.inputs?.map((i) => i.name)).toEqual(['x']);
    expect(assignment?.envelope?.requirements).toEqual({ min: { wasm: true }, preferred: { webgpu: true } });
  });

  it('map --library checks the params first, names inputs after their files and writes outputs by name', async () => {
    const files = [join(dir, 'a.txt'), join(dir, 'b.txt')];
    await writeFile(files[0]!, 'alpha\n');
    await writeFile(files[1]!, 'bravo\n');
    // A misspelt param is a usage error before anything is sent.
    const bad = await flock([
      'map',
      '--library',
      'crypto.hash',
      '--params',
      '{"algorithm":["sha256"]}',
      ...files,
    ]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain(
      '--library crypto.hash: params.algorithm unknown parameter (known: algorithms, argon2) (INVALID_PARAMS)',
    );
    const unknown = await flock(['map', '--library', 'crypto.hsh', ...files]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('UNKNOWN_METHOD');

    const out = join(dir, 'digests');
    const run = await flock([
      'map',
      '--library',
      'crypto.hash',
      '--params',
      '{"algorithms":["sha256"]}',
      '--campaign',
      'cli-lib-1',
      '--out',
      out,
      ...files,
    ]);
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(
      `cli-lib-1-0  succeeded  ${files[0]}\ncli-lib-1-1  succeeded  ${files[1]}\n2/2 succeeded\n`,
    );
    const assignment = env.volunteer.assignments.find((a) => a.task_id === 'cli-lib-1-1');
    expect(assignment?.envelope?.module).toEqual({ kind: 'library' });
    expect(assignment?.envelope?.inputs?.map((i) => [i.name, i.content_type])).toEqual([
      ['b.txt', 'text/plain'],
    ]);
    // Both tasks write digests.json: each file is prefixed with its input's name.
    const digests = JSON.parse(await readFile(join(out, 'b.txt.digests.json'), 'utf8'));
    expect(digests).toEqual({
      'b.txt': { sha256: createHash('sha256').update('bravo\n').digest('hex') },
    });
  });

  it('list filters by campaign and state, as a table or JSON', async () => {
    const table = await flock(['list', '--campaign', 'cli-map-1']);
    expect(table).toEqual({
      code: 0,
      stdout: [
        'TASK         STATE      OP   MODULE  PROGRESS  CODE',
        'cli-map-1-0  succeeded  map  wasm',
        'cli-map-1-1  succeeded  map  wasm',
        'cli-map-1-2  succeeded  map  wasm',
        '',
      ].join('\n'),
      stderr: '',
    });
    const failed = await flock(['list', '--state', 'failed', '--json']);
    const ids = (JSON.parse(failed.stdout) as { tasks: Array<{ task_id: string; state: string }> }).tasks;
    expect(ids).toEqual([expect.objectContaining({ task_id: 'cli-fail-1', state: 'failed' })]);
    expect((await flock(['list', '--state', 'done'])).code).toBe(2);
  });

  it('workers --json lists the volunteer', async () => {
    const run = await flock(['workers', '--json']);
    expect(run.code).toBe(0);
    const { workers } = JSON.parse(run.stdout) as {
      workers: Array<{ worker_id: string; connected: boolean }>;
    };
    expect(workers).toContainEqual(
      expect.objectContaining({ worker_id: env.volunteer.workerId, connected: true }),
    );
    const table = await flock(['workers']);
    const [head, row] = table.stdout.split('\n');
    expect(head).toMatch(
      /^WORKER\s+CONNECTED\s+GPU\s+CORES\s+RUNNING\s+OK\s+FAILED\s+CREDIT\s+PENDING\s+VALIDATED\s+REJECTED\s+TRUST$/,
    );
    // Unverified tasks only: nothing validated, nothing earned, never checked.
    expect(row!.split(/\s{2,}/).slice(-5)).toEqual(['0.0 s', '0.0 s', '0', '0', 'new']);
  });

  it('runs as `npx flock` through the bin', async () => {
    const root = resolve(import.meta.dirname, '../../..');
    const { stdout } = await promisify(execFile)('npx', ['flock', 'status', 'cli-sum-1', '--json'], {
      cwd: root,
      env: { ...process.env, FLOCK_URL: env.url, FLOCK_API_KEY: KEY },
    });
    expect(JSON.parse(stdout)).toMatchObject({ task_id: 'cli-sum-1', state: 'succeeded' });
    const failed = await promisify(execFile)('npx', ['flock', 'status', 'cli-sum-1'], {
      cwd: root,
      env: { ...process.env, FLOCK_URL: env.url, FLOCK_API_KEY: 'wrong' },
    }).catch((error: { code: number }) => error);
    expect((failed as { code: number }).code).toBe(3);
  });
});
