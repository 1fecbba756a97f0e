// Connection scale: one coordinator (its own process, SQLite store) holds N idle volunteer
// WebSockets, each one a real `/v1/worker` session (hello with a capability, welcome, heartbeats
// at the interval the coordinator asks for), spread over several 127.0.0.x source addresses.
// Prints the coordinator's memory per connection: RSS and JS (heap + external) growth from a
// warm baseline of W connections to N, after two forced collections. Target: <= 16 KiB.
//
//   npx tsx bench/scale/idle-sockets.ts                    # 10,000 sockets over 4 addresses
//   options: --sockets N --addresses K --warm W
// It re-runs itself under `bash -c 'ulimit -n 65536 && ...'` when the fd limit is too low.
import { type ChildProcess, execFileSync, fork, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { decodeFrame, encodeFrame, type Frame_Payload, makeFrame } from '@flock/protocol';
import WebSocket from 'ws';
import { SIM_CAPABILITY } from '../../apps/coordinator/src/sim/simulated-volunteer.ts';
import type { MemoryReport } from './coordinator-child.ts';

const argv = process.argv.slice(2);
const option = (name: string, fallback: number): number => {
  const i = argv.indexOf(name);
  return i >= 0 && argv[i + 1] !== undefined ? Number(argv[i + 1]) : fallback;
};
const SOCKETS = option('--sockets', 10_000);
const ADDRESSES = option('--addresses', 4);
const WARM = option('--warm', 200);
const ROOT = resolve(import.meta.dirname, '../..');
const FD_NEEDED = SOCKETS + 1024;

function currentFdLimit(): number {
  return Number(execFileSync('bash', ['-c', 'ulimit -n']).toString().trim());
}

if (currentFdLimit() < FD_NEEDED && process.env.FLOCK_BENCH_ULIMIT !== '1') {
  const self = [process.execPath, ...process.execArgv, ...process.argv.slice(1)]
    .map((a) => `'${a}'`)
    .join(' ');
  const out = spawnSync('bash', ['-c', `ulimit -n 65536 && exec ${self}`], {
    stdio: 'inherit',
    env: { ...process.env, FLOCK_BENCH_ULIMIT: '1' },
  });
  process.exit(out.status ?? 1);
}

const send = (ws: WebSocket, payload: Frame_Payload): void => ws.send(encodeFrame(makeFrame(payload)));

/** One idle volunteer: hello, then a heartbeat at the interval the welcome names. */
function connect(url: string, localAddress: string): Promise<WebSocket> {
  return new Promise((done, fail) => {
    const ws = new WebSocket(url, { localAddress, perMessageDeflate: false, handshakeTimeout: 30_000 });
    let seq = 0;
    let timer: NodeJS.Timeout | undefined;
    ws.on('open', () =>
      send(ws, {
        hello: {
          protocol_version: 1,
          capability: SIM_CAPABILITY,
          session_token: '',
          in_flight: [],
          undelivered: [],
          client: 'flock-idle',
        },
      }),
    );
    ws.on('message', (data: Buffer) => {
      const payload = decodeFrame(new Uint8Array(data.buffer, data.byteOffset, data.byteLength)).payload;
      if (payload && 'welcome' in payload) {
        const every = payload.welcome.heartbeat_ms ?? 10_000;
        // Random phase, so that N heartbeats do not all land in the same tick.
        const start = setTimeout(() => {
          timer = setInterval(() => send(ws, { heartbeat: { seq: ++seq, lease_ids: [] } }), every);
        }, Math.random() * every);
        ws.on('close', () => clearTimeout(start));
        done(ws);
      }
    });
    ws.on('error', fail);
    ws.on('close', () => clearInterval(timer));
  });
}

function measure(child: ChildProcess): Promise<MemoryReport> {
  return new Promise((done) => {
    const on = (msg: MemoryReport): void => {
      if (msg.type !== 'memory') return;
      child.off('message', on);
      done(msg);
    };
    child.on('message', on);
    child.send({ type: 'measure' });
  });
}

async function openMany(url: string, from: number, to: number, sockets: WebSocket[]): Promise<void> {
  const parallel = 200;
  for (let i = from; i < to; i += parallel) {
    const batch = [];
    for (let k = i; k < Math.min(to, i + parallel); k++) {
      batch.push(connect(url, `127.0.0.${2 + (k % ADDRESSES)}`));
    }
    sockets.push(...(await Promise.all(batch)));
    if (sockets.length % 2000 === 0) console.log(`  ${sockets.length} open`);
  }
}

const kib = (bytes: number): string => (bytes / 1024).toFixed(2);
const mib = (bytes: number): string => (bytes / 1024 / 1024).toFixed(1);

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'flock-scale-'));
  const child = fork(join(ROOT, 'bench/scale/coordinator-child.ts'), [], {
    cwd: ROOT,
    execArgv: ['--import', 'tsx', '--expose-gc'],
    env: {
      ...process.env,
      FLOCK_PORT: '0',
      FLOCK_DATA: dir,
      FLOCK_API_KEYS: 'scale-bench-key-0123456789:bench',
      FLOCK_LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const sockets: WebSocket[] = [];
  try {
    const port = await new Promise<number>((done, fail) => {
      child.once('exit', (code) => fail(new Error(`coordinator exited with ${code}`)));
      child.on('message', (msg: { type: string; port?: number }) => {
        if (msg.type === 'ready') done(msg.port!);
      });
    });
    const url = `ws://127.0.0.1:${port}/v1/worker`;
    const started = Date.now();
    await openMany(url, 0, WARM, sockets);
    const base = await measure(child);
    await openMany(url, WARM, SOCKETS, sockets);
    const openSeconds = (Date.now() - started) / 1000;
    const full = await measure(child);
    const added = full.workers - base.workers;
    const rss = (full.rss - base.rss) / added;
    const js = (full.heapUsed + full.external - base.heapUsed - base.external) / added;
    console.log(
      `idle volunteer sockets: ${full.workers} connected (hello + welcome each) over ${ADDRESSES} source addresses 127.0.0.2..${1 + ADDRESSES}`,
    );
    console.log(
      `opened in ${openSeconds.toFixed(1)} s (${(SOCKETS / openSeconds).toFixed(0)} connections/s)`,
    );
    console.log(
      `coordinator RSS ${mib(base.rss)} MiB at ${base.workers} -> ${mib(full.rss)} MiB at ${full.workers}`,
    );
    console.log(
      `coordinator heap+external ${mib(base.heapUsed + base.external)} MiB -> ${mib(full.heapUsed + full.external)} MiB`,
    );
    console.log(`per connection: RSS ${kib(rss)} KiB, JS heap+external ${kib(js)} KiB (target <= 16 KiB)`);
    if (full.workers !== SOCKETS)
      throw new Error(`expected ${SOCKETS} connected workers, the coordinator has ${full.workers}`);
  } finally {
    for (const ws of sockets) ws.terminate();
    if (child.exitCode === null) {
      const exited = new Promise((done) => child.once('exit', done));
      child.disconnect();
      // A coordinator that does not stop within 10 s is killed rather than left running.
      const kill = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(kill);
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
