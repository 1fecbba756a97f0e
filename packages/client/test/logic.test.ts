// Pure logic of the SDK and CLI: no coordinator needed. The flows against a real coordinator
// live in client.test.ts and cli.test.ts.
import { createServer } from 'node:net';
import { EVENTS, ProtocolError } from '@flock/protocol';
import { describe, expect, it } from 'vitest';
import { EXIT, exitCodeFor, UsageError } from '../src/cli/exit-codes.ts';
import { type CliIo, main } from '../src/cli/main.ts';
import { ProgressBar, renderBar } from '../src/cli/progress-bar.ts';
import {
  eventFromView,
  FlockClient,
  FlockError,
  formatCredit,
  formatSuccessRate,
  sloTargetsText,
  type TaskVerification,
  type TaskView,
  toDataRefs,
  trustStatus,
  verificationText,
} from '../src/index.ts';

function view(partial: Partial<TaskView>): TaskView {
  return {
    task_id: 't-1',
    tenant: 'acme',
    op: 'sum',
    module_kind: 'builtin',
    state: 'queued',
    created_at_ms: 1000,
    updated_at_ms: 2000,
    attempts: [],
    result_available: false,
    ...partial,
  };
}

function captureIo(env: Record<string, string> = {}): CliIo & { out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return {
    out,
    err,
    stdout: (t) => out.push(t),
    stderr: (t) => err.push(t),
    stderrIsTTY: false,
    env,
    readStdin: async () => '',
  };
}

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('renderBar', () => {
  it('draws filled and empty cells, percent, counts and failures', () => {
    expect(renderBar({ total: 20, done: 9, failed: 1 }, 20)).toBe(
      '[#########...........]  45%  9/20 done, 1 failed',
    );
    expect(renderBar({ total: 4, done: 4, label: 'succeeded' }, 8)).toBe(
      '[########] 100%  4/4 done  succeeded',
    );
    expect(renderBar({ total: 0, done: 0 }, 4)).toBe('[####] 100%  0/0 done');
  });

  it('redraws in place on a terminal and stays silent elsewhere', () => {
    const tty: string[] = [];
    const bar = new ProgressBar((t) => tty.push(t), true);
    bar.update({ total: 2, done: 1 });
    bar.finish();
    expect(tty).toEqual([`\r\x1b[2K${renderBar({ total: 2, done: 1 })}`, '\n']);
    const pipe: string[] = [];
    const quiet = new ProgressBar((t) => pipe.push(t), false);
    quiet.update({ total: 2, done: 1 });
    quiet.finish();
    expect(pipe).toEqual([]);
  });
});

describe('exitCodeFor', () => {
  it('maps errors to the documented exit codes', () => {
    expect(exitCodeFor(new UsageError('x'))).toBe(2);
    expect(exitCodeFor(new ProtocolError('MISSING_FIELD', 'task_id is required', 'task_id'))).toBe(2);
    expect(exitCodeFor(new FlockError('UNAUTHENTICATED', 'bad key', { status: 401 }))).toBe(3);
    expect(exitCodeFor(new FlockError('NOT_FOUND', 'no task', { status: 404 }))).toBe(4);
    expect(exitCodeFor(new FlockError('UNREACHABLE', 'down'))).toBe(5);
    expect(exitCodeFor(new FlockError('TIMEOUT', 'slow'))).toBe(5);
    expect(exitCodeFor(new FlockError('WAIT_TIMEOUT', 'still running'))).toBe(6);
    expect(exitCodeFor(new FlockError('TASK_FAILED', 'failed'))).toBe(1);
    expect(exitCodeFor(new FlockError('TASK_CANCELLED', 'cancelled'))).toBe(1);
    expect(exitCodeFor(new FlockError('MISSING_FIELD', 'op', { status: 400, field: 'op' }))).toBe(2);
    expect(exitCodeFor(new FlockError('ALREADY_FINISHED', 'done', { status: 409 }))).toBe(2);
    expect(exitCodeFor(new FlockError('INTERNAL', 'oops', { status: 500 }))).toBe(1);
  });
});

describe('toDataRefs', () => {
  it('makes one named input from bytes or text and keeps DataRef lists', () => {
    expect(toDataRefs(new Uint8Array([1, 2]))).toEqual([
      { name: 'input', content_type: 'application/octet-stream', inline_bytes: new Uint8Array([1, 2]) },
    ]);
    expect(toDataRefs('hi', { inputName: 'stdin' })).toEqual([
      { name: 'stdin', content_type: 'text/plain; charset=utf-8', inline_bytes: new Uint8Array([104, 105]) },
    ]);
    const refs = [{ name: 'a', inline_json: '[1]' }];
    expect(toDataRefs(refs)).toBe(refs);
  });
});

describe('eventFromView', () => {
  it('names the event of each state as the seed does', () => {
    expect(eventFromView(view({ state: 'queued' }))).toEqual({
      topic: EVENTS.requested,
      task_id: 't-1',
      ts: 2000,
      state: 'queued',
      payload: { task_id: 't-1' },
    });
    expect(eventFromView(view({ state: 'running' })).topic).toBe(EVENTS.accepted);
    expect(eventFromView(view({ state: 'running', progress: { pct: 40 } })).payload).toEqual({
      task_id: 't-1',
      pct: 40,
    });
    expect(eventFromView(view({ state: 'succeeded', campaign_id: 'c' }))).toMatchObject({
      topic: EVENTS.success,
      campaign_id: 'c',
    });
    expect(
      eventFromView(view({ state: 'failed', failure: { code: 'TIMEOUT', message: 'slow' } })).payload,
    ).toEqual({
      task_id: 't-1',
      code: 'TIMEOUT',
      message: 'slow',
    });
    expect(eventFromView(view({ state: 'cancelled' })).topic).toBe(EVENTS.cancelled);
  });
});

describe('FlockClient', () => {
  it('refuses a bad url or an empty key before sending anything', () => {
    expect(() => new FlockClient({ url: 'ftp://x', apiKey: 'k' })).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
    expect(() => new FlockClient({ url: 'http://x', apiKey: '' })).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
  });

  it('reports a refused connection as UNREACHABLE with status 0', async () => {
    const client = new FlockClient({ url: `http://127.0.0.1:${await closedPort()}`, apiKey: 'k' });
    await expect(client.getTask('t-1')).rejects.toMatchObject({ code: 'UNREACHABLE', status: 0 });
  });
});

describe('flock CLI without a coordinator', () => {
  it('prints usage and exits 2 without a command, 0 with --help', async () => {
    const io = captureIo();
    expect(await main([], io)).toBe(EXIT.usage);
    expect(io.out.join('')).toContain('Usage: flock <command>');
    expect(await main(['--help'], captureIo())).toBe(EXIT.ok);
  });

  it('exits 2 for an unknown command, an unknown flag, a missing key or a missing argument', async () => {
    const env = { FLOCK_API_KEY: 'k' };
    const unknown = captureIo(env);
    expect(await main(['frobnicate'], unknown)).toBe(2);
    expect(unknown.err.join('')).toContain('flock: USAGE: unknown command "frobnicate"');
    expect(await main(['status', 't-1', '--bogus'], captureIo(env))).toBe(2);
    const noKey = captureIo();
    expect(await main(['status', 't-1'], noKey)).toBe(2);
    expect(noKey.err.join('')).toContain('no API key');
    expect(await main(['status'], captureIo(env))).toBe(2);
    expect(await main(['map', 'in.bin', '--wasm', 'a.wasm', '--builtin', 'sum'], captureIo(env))).toBe(2);
  });

  it('exits 2 for an option the command does not read, and for --timeout without --wait', async () => {
    // A closed port: a command that ignored the option would get as far as the request (exit 5).
    const env = { FLOCK_API_KEY: 'k', FLOCK_URL: `http://127.0.0.1:${await closedPort()}` };
    const status = captureIo(env);
    expect(await main(['status', 't-1', '--out', 'dir/'], status)).toBe(EXIT.usage);
    expect(status.err.join('')).toBe(
      'flock: USAGE: --out does not apply to status (its options: none)\nRun "flock --help" for usage.\n',
    );
    const map = captureIo(env);
    expect(await main(['map', '--builtin', 'reduce_sum', '--timeout', '1000', 'a.f32'], map)).toBe(
      EXIT.usage,
    );
    expect(map.err[0]).toBe(
      'flock: USAGE: --timeout does not apply to map (its options: --wasm, --wgsl, --builtin, --library, ' +
        '--op, --params, --entry, --input-name, --mount, --concurrency, --batch, --campaign, --out, --traceparent)\n',
    );
    const list = captureIo(env);
    expect(await main(['list', '--state', 'running', '--task', 't-1', '--json'], list)).toBe(EXIT.usage);
    expect(JSON.parse(list.out.join(''))).toEqual({
      error: { code: 'USAGE', message: '--task does not apply to list (its options: --state, --campaign)' },
    });
    const submit = captureIo(env);
    expect(await main(['submit', 'envelope.json', '--timeout', '5000'], submit)).toBe(EXIT.usage);
    expect(submit.err[0]).toBe('flock: USAGE: --timeout needs --wait (submit only waits with --wait)\n');
    // The options a command does read get through to the request.
    expect(await main(['list', '--state', 'running', '--campaign', 'c-1'], captureIo(env))).toBe(
      EXIT.unreachable,
    );
    expect(await main(['result', 't-1', '--wait', '--timeout', '50', '--out', 'o/'], captureIo(env))).toBe(
      EXIT.unreachable,
    );
  });

  it('exits 2 for a --traceparent or TRACEPARENT that is no W3C traceparent, before reading any file', async () => {
    const env = { FLOCK_API_KEY: 'k', FLOCK_URL: `http://127.0.0.1:${await closedPort()}` };
    const flag = captureIo(env);
    expect(
      await main(['map', '--builtin', 'reduce_sum', '--traceparent', '00-zz', 'missing.f32'], flag),
    ).toBe(EXIT.usage);
    expect(flag.err[0]).toBe(
      'flock: USAGE: --traceparent "00-zz" is not a W3C traceparent ' +
        '(00-<32 hex trace id>-<16 hex span id>-<2 hex flags>, ids not all zero)\n',
    );
    const zero = captureIo({ ...env, TRACEPARENT: `00-${'0'.repeat(32)}-00f067aa0ba902b7-01` });
    expect(await main(['submit', 'missing.json'], zero)).toBe(EXIT.usage);
    expect(zero.err[0]).toMatch(/^flock: USAGE: env TRACEPARENT "00-0{32}-00f067aa0ba902b7-01" is not a W3C/);
    // A valid one gets as far as the file.
    const good = captureIo({ ...env, TRACEPARENT: `00-${'4'.repeat(32)}-00f067aa0ba902b7-01` });
    expect(await main(['submit', 'missing.json'], good)).toBe(EXIT.usage);
    expect(good.err[0]).toBe('flock: USAGE: cannot read missing.json: ENOENT\n');
  });

  it('exits 2 with the field for an invalid envelope, before sending it', async () => {
    const io = captureIo({ FLOCK_API_KEY: 'k', FLOCK_URL: 'http://127.0.0.1:9' });
    io.readStdin = async () =>
      JSON.stringify({ op: 'sum', module: { kind: 'builtin' }, requirements: { min: {} } });
    expect(await main(['submit', '-', '--json'], io)).toBe(2);
    expect(JSON.parse(io.out.join(''))).toEqual({
      error: {
        code: 'MISSING_FIELD',
        message: expect.stringContaining('invalid envelope'),
        field: 'task_id',
      },
    });
  });

  it('exits 5 when the coordinator is unreachable', async () => {
    const io = captureIo({ FLOCK_API_KEY: 'k', FLOCK_URL: `http://127.0.0.1:${await closedPort()}` });
    expect(await main(['status', 't-1'], io)).toBe(5);
    expect(io.err.join('')).toMatch(/^flock: UNREACHABLE: cannot reach the coordinator/);
  });
});

describe('verification and credit wording (shared by the CLI and the dashboard)', () => {
  const base: TaskVerification = {
    state: 'pending',
    mode: 'fixed',
    quorum: 2,
    max_replicas: 5,
    dispatched: 1,
    running: 1,
    returned: 0,
    agreeing: 0,
    workers: ['w-1'],
  };

  it('words every state and way of acceptance', () => {
    expect(verificationText(base)).toBe(
      'pending (0 of 2 agree, 0 returned, 1 running, 1 of at most 5 dispatched, mode fixed)',
    );
    expect(verificationText({ ...base, running: 0, returned: 1, agreeing: 1 })).toBe(
      'pending (1 of 2 agree, 1 returned, 1 of at most 5 dispatched, mode fixed)',
    );
    expect(
      verificationText({
        ...base,
        state: 'accepted',
        dispatched: 3,
        returned: 3,
        agreeing: 2,
        accepted_by: 'quorum',
      }),
    ).toBe('accepted by quorum (2 of 2 agree, 3 returned, mode fixed)');
    expect(
      verificationText({
        ...base,
        quorum: 1,
        state: 'accepted',
        returned: 1,
        agreeing: 1,
        accepted_by: 'single',
      }),
    ).toBe('accepted by single result (1 of 1 agree, 1 returned, mode fixed)');
    expect(
      verificationText({
        ...base,
        mode: 'adaptive',
        state: 'accepted',
        returned: 1,
        agreeing: 1,
        accepted_by: 'trusted',
      }),
    ).toBe('accepted by trusted worker (believed alone, 1 returned, mode adaptive)');
    expect(
      verificationText({
        ...base,
        state: 'failed',
        max_replicas: 2,
        running: 0,
        dispatched: 2,
        returned: 2,
        agreeing: 1,
      }),
    ).toBe('failed (1 of 2 agree, 2 returned, 2 of at most 2 dispatched, mode fixed)');
  });

  it('formats credit seconds and names the trust status (quarantine wins)', () => {
    expect([0, 0.04, 42.25, 59.96, 185, 7620].map(formatCredit)).toEqual([
      '0.0 s',
      '0.0 s',
      '42.3 s',
      '60.0 s',
      '3 min 5 s',
      '2 h 7 min',
    ]);
    expect([Number.NaN, -1].map(formatCredit)).toEqual(['?', '?']);
    expect(trustStatus({ vetted: false, quarantined: false })).toBe('new');
    expect(trustStatus({ vetted: true, quarantined: false })).toBe('verified');
    expect(trustStatus({ vetted: true, quarantined: true })).toBe('quarantined');
    expect(trustStatus({ vetted: false, quarantined: false, unchecked: true })).toBe('unchecked');
    expect(trustStatus({ vetted: true, quarantined: false, unchecked: true })).toBe('verified');
    expect(trustStatus({ vetted: false, quarantined: true, unchecked: true })).toBe('quarantined');
  });

  it('words success rates (never 100 % short of 1) and the SLO targets', () => {
    expect([1, 0.95, 0.6, 1 / 3, 0.29, 0.9996, 0].map(formatSuccessRate)).toEqual([
      '100%',
      '95%',
      '60%',
      '33.3%',
      '29%',
      '99.9%',
      '0%',
    ]);
    expect([Number.NaN, -0.1, 1.5].map(formatSuccessRate)).toEqual(['?', '?', '?']);
    expect(sloTargetsText({ p95_ms: 250, success: 0.99, window_ms: 300_000 })).toBe(
      'targets p95 ≤ 250 ms, success ≥ 99% over 5 min',
    );
    expect(sloTargetsText({ p95_ms: 0, success: 0.995, window_ms: 90_000 })).toBe(
      'targets success ≥ 99.5% over 90 s',
    );
    expect(sloTargetsText({ p95_ms: 0, success: 0, window_ms: 60_000 })).toBe('no targets (window 1 min)');
  });
});
