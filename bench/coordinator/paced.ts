// The paced phase of the coordinator bench (run.ts): single submissions at a steady rate well
// below capacity, latency from the call to the job's start; the kept-alive node:http client that
// sends Flock's; the floor, a bare node:http server sent the same requests. Also the small helpers
// both systems' rounds share.
import { spawn } from 'node:child_process';
import { Agent, request } from 'node:http';

/** The bench's API key (the coordinator is started with it). */
export const KEY = 'bench-key-0123456789abcdef';
/** Paced tasks a phase, and their rate per second. */
export const PACED = Number(optionOf('--paced', '500'));
export const PACED_RATE = 100;

function optionOf(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}

export async function waitFor(
  check: () => Promise<boolean> | boolean,
  what: string,
  timeoutMs = 30_000,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export function input(i: number): number[] {
  return Array.from({ length: 16 }, (_, k) => (i * 31 + k) & 0xff);
}

/** A latency in ms to a tenth (the clock is performance.now(): sub-ms). */
export const ms = (x: number | undefined): string => (x === undefined ? '-' : x.toFixed(1));

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

/** Submit→start latency of single submissions at a steady rate below capacity. */
export interface Paced {
  p50: number;
  p99: number;
}

/** Submits `count` tasks with `submit(i)` at PACED_RATE per second; latency from call to start. */
export async function paced(
  submit: (i: number) => Promise<void>,
  began: Map<string, number>,
  prefix = 'p',
): Promise<Paced> {
  const sent = new Map<string, number>();
  const answered = new Map<string, number>();
  const t0 = performance.now();
  const inflight: Array<Promise<void>> = [];
  for (let i = 0; i < PACED; i++) {
    const due = t0 + (i * 1000) / PACED_RATE;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const id = `${prefix}-${i}`;
    sent.set(id, performance.now());
    inflight.push(submit(i).then(() => void answered.set(id, performance.now())));
  }
  await Promise.all(inflight);
  await waitFor(() => [...sent.keys()].every((id) => began.has(id)), 'paced tasks started', 120_000);
  const lat = [...sent].map(([id, t]) => began.get(id)! - t).sort((a, b) => a - b);
  if (process.env.BENCH_PACED_DEBUG) {
    const rows = [...sent].map(
      ([id, t]) =>
        [
          id,
          Math.round(t - t0),
          +(answered.get(id)! - t).toFixed(1),
          +(began.get(id)! - t).toFixed(1),
        ] as const,
    );
    rows.sort((a, b) => b[3] - a[3]);
    console.log('slowest (id, at ms, 201 after, began after):', JSON.stringify(rows.slice(0, 12)));
    const a = rows.map((r) => r[2]).sort((x, y) => x - y);
    console.log(`201 p50 ${ms(percentile(a, 0.5))} p99 ${ms(percentile(a, 0.99))}`);
  }
  return { p50: percentile(lat, 0.5), p99: percentile(lat, 0.99) };
}

/** The body of paced task `<prefix>-<i>`: one task, as the backlog's. */
export function pacedTask(prefix: string, i: number): string {
  return JSON.stringify({
    task_id: `${prefix}-${i}`,
    op: 'sum',
    module: { kind: 'builtin' },
    requirements: { min: { wasm: true } },
    inputs: [{ name: 'x', inline_bytes: Buffer.from(input(i)).toString('base64') }],
  });
}

/** One connection, kept alive between the paced phase's requests (as ioredis keeps BullMQ's). */
const keptAlive = new Agent({ keepAlive: true, maxSockets: 1 });

/**
 * The floor under the paced figures on this machine: a bare node:http server in a process of its
 * own that reads each body and answers 201 at once, sent the same bodies the same way (kept-alive
 * node:http, 100/s); call → whole 201 read. A paced Flock task's submit→start is one such request
 * plus the coordinator's work and one WebSocket frame.
 */
export async function httpFloor(): Promise<Paced> {
  const source = `const s = require('node:http').createServer((q, r) => {
    q.on('data', () => {}).on('end', () => r.writeHead(201, { 'content-type': 'application/json' }).end('{}'));
  });
  s.keepAliveTimeout = 5000;
  s.listen(0, '127.0.0.1', () => process.stdout.write(s.address().port + '\\n'));`;
  const server = spawn(process.execPath, ['-e', source], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const port = await new Promise<string>((done) =>
      server.stdout!.once('data', (d) => done(String(d).trim())),
    );
    const answered = new Map<string, number>();
    const url = `http://127.0.0.1:${port}`;
    return await paced(
      (i) => postTask(url, pacedTask('f', i)).then(() => void answered.set(`f-${i}`, performance.now())),
      answered,
      'f',
    );
  } finally {
    server.kill('SIGTERM');
    await new Promise((r) => server.once('exit', r));
  }
}

/** `POST /v1/tasks` over `keptAlive`; settles once the whole 201 has been read. */
export function postTask(url: string, body: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${url}/v1/tasks`,
      {
        method: 'POST',
        agent: keptAlive,
        headers: {
          authorization: `Bearer ${KEY}`,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
        },
      },
      (res) => {
        res.resume();
        res.once('end', () =>
          res.statusCode === 201 ? resolve() : reject(new Error(`paced submit failed: ${res.statusCode}`)),
        );
      },
    );
    req.once('error', reject);
    req.end(body);
  });
}
