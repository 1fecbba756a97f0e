// What a campaign's intake costs the coordinator per task: `POST /v1/campaigns` with the bench's
// 1,000-task body (op sum, builtin module, one inline_bytes input), from the HTTP body to the 201,
// or with --single one task a `POST /v1/tasks` (the paced phase's requests: what a request costs
// besides its tasks),
// against a coordinator started in this process on a temporary directory. The client's own share
// (sending the body, reading an answer of the same size) is measured against a bare HTTP server
// that answers a stored copy of the coordinator's 201, and subtracted.
//
//   npx tsx bench/coordinator/intake-costs.ts [--posts N] [--rounds R]
//       CPU µs per task (median of R rounds of N posts each, coordinator and bare server
//       interleaved)
//   npx tsx bench/coordinator/intake-costs.ts --single [--posts N] [--rounds R]
//       the same for one-task POSTs to /v1/tasks (N defaults to 500)
//   node --expose-gc --max-semi-space-size=512 --min-semi-space-size=512 --import tsx \
//       bench/coordinator/intake-costs.ts --alloc [--single] [--posts N]
//       bytes allocated per task (heap used before and after N posts, no scavenge between:
//       check with --trace-gc)
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent, createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCoordinator } from '../../apps/coordinator/src/start-coordinator.ts';

const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};
const SINGLE = process.argv.includes('--single');
const POSTS = arg('--posts', SINGLE ? 500 : 5);
const ROUNDS = arg('--rounds', 5);
const ALLOC = process.argv.includes('--alloc');
const TASKS = SINGLE ? 1 : 1000;
const PATH = SINGLE ? '/v1/tasks' : '/v1/campaigns';
const KEY = 'intake-bench-key';
const agent = new Agent({ keepAlive: true, maxSockets: 1 });

/** The envelope bench/coordinator/run.ts sends for task `i`. */
function envelope(i: number): object {
  const input = Array.from({ length: 16 }, (_, k) => (i * 31 + k) & 0xff);
  return {
    task_id: `b-${i}`,
    op: 'sum',
    module: { kind: 'builtin' },
    requirements: { min: { wasm: true } },
    inputs: [{ name: 'x', inline_bytes: Buffer.from(input).toString('base64') }],
  };
}

/** The body run.ts sends for tasks `start`..`start + 999` (a campaign), or for task `start` alone. */
function requestBody(start: number): Buffer {
  if (SINGLE) return Buffer.from(JSON.stringify(envelope(start)));
  const tasks = [];
  for (let i = start; i < start + TASKS; i++) tasks.push(envelope(i));
  return Buffer.from(JSON.stringify({ campaign_id: `bench-${start}`, tasks }));
}

function post(port: number, body: Buffer): Promise<{ status: number; text: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        agent,
        port,
        host: '127.0.0.1',
        method: 'POST',
        path: PATH,
        headers: {
          authorization: `Bearer ${KEY}`,
          'content-type': 'application/json',
          'content-length': body.length,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks) }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** A server that reads the body and answers `answer`: what the client side costs on its own. */
async function bareServer(answer: Buffer): Promise<Server> {
  const server = createServer((req, res) => {
    req.on('data', () => {});
    req.on('end', () => {
      res.writeHead(201, {
        'Content-Type': 'application/json; charset=utf-8',
        'Content-Length': answer.length,
      });
      res.end(answer);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return server;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

const dir = mkdtempSync(join(tmpdir(), 'flock-intake-bench-'));
const running = await startCoordinator({
  port: 0,
  dataDir: dir,
  apiKeys: new Map([[KEY, 'bench']]),
  extraOps: ['sum'],
  logLevel: 'warn',
});
let next = 0;
const bodies = (n: number): Buffer[] => Array.from({ length: n }, () => requestBody(next++ * TASKS));

// Warm-up: both servers, and the answer the bare server repeats.
let answer: Buffer = Buffer.alloc(0);
for (const body of bodies(SINGLE ? 300 : 3)) {
  const res = await post(running.port, body);
  if (res.status !== 201) throw new Error(`${res.status} ${res.text}`);
  answer = res.text;
}
const bare = await bareServer(answer);
const barePort = (bare.address() as AddressInfo).port;
for (const body of bodies(SINGLE ? 300 : 3)) await post(barePort, body);

/** CPU µs (or heap bytes with --alloc) per task of `POSTS` posts to `port`. */
async function measure(port: number): Promise<number> {
  const batch = bodies(POSTS);
  if (ALLOC) {
    (globalThis as { gc?: () => void }).gc?.();
    const before = process.memoryUsage().heapUsed;
    for (const body of batch) await post(port, body);
    return (process.memoryUsage().heapUsed - before) / (POSTS * TASKS);
  }
  const cpu = process.cpuUsage();
  for (const body of batch) {
    const res = await post(port, body);
    if (res.status !== 201) throw new Error(`${res.status}`);
  }
  const used = process.cpuUsage(cpu);
  return (used.user + used.system) / (POSTS * TASKS);
}

const whole: number[] = [];
const client: number[] = [];
for (let r = 0; r < ROUNDS; r++) {
  whole.push(await measure(running.port));
  client.push(await measure(barePort));
}
const unit = ALLOC ? 'bytes' : 'µs CPU';
const fmt = (x: number): string => x.toFixed(ALLOC ? 0 : 1);
console.log(
  `intake, ${POSTS} posts of ${TASKS} task${TASKS === 1 ? '' : 's'} × ${ROUNDS} rounds: ${unit} a task, coordinator + client ` +
    `${fmt(median(whole))} (${whole.map(fmt).join(', ')}), client alone ${fmt(median(client))}, ` +
    `coordinator ${fmt(median(whole) - median(client))}`,
);
bare.close();
agent.destroy();
await running.close();
rmSync(dir, { recursive: true, force: true });
