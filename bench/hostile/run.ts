// Hostile-traffic benchmark (#21): a legitimate requester's submit→result latency while an
// attacker floods the coordinator, against the same requester's latency with no attack, in one
// run. Prints p50/p99 per attack and the p99 ratios (targets: ≤ 2× for frame, heartbeat and
// capability floods, ≤ 5× for a connection flood).
//
//   npm run bench:hostile -w @flock/coordinator            # 8 s per phase
//   options: --seconds N --rate N (legitimate submissions a second)
//
// The coordinator runs in its own process with its defaults. The legitimate side (requester,
// two volunteers with 4 slots, an operator watching /v1/events with an admin key) runs here on
// 127.0.0.1; each attacker runs in a process of its own, niced (a remote attacker's CPU is not
// ours), from 127.0.0.2, so that per-address limits tell it apart.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, loadavg, setPriority, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import WebSocket from 'ws';
import { SimulatedVolunteer } from '../../apps/coordinator/src/sim/simulated-volunteer.ts';

const argv = process.argv.slice(2);
const option = (name: string, fallback: string): number => {
  const i = argv.indexOf(name);
  return Number(i >= 0 && argv[i + 1] !== undefined ? argv[i + 1] : fallback);
};
const SECONDS = option('--seconds', '8');
const RATE = option('--rate', '50');
const ROOT = resolve(import.meta.dirname, '../..');
const KEY = 'bench-key-0123456789abcdef';
const ADMIN = 'bench-admin-0123456789abcdef';
const ATTACKS = ['frames', 'heartbeats', 'capabilities', 'connections'] as const;
const TARGET: Record<(typeof ATTACKS)[number], number> = {
  frames: 2,
  heartbeats: 2,
  capabilities: 2,
  connections: 5,
};

function freePort(): Promise<number> {
  return new Promise((done, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => done(port));
    });
  });
}

async function waitFor(check: () => Promise<boolean> | boolean, what: string, timeoutMs = 30_000) {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function percentile(sorted: number[], p: number): number {
  return sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

/** utime + stime of a process, in seconds (Linux /proc). */
function cpuSeconds(pid: number | undefined): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

interface Phase {
  name: string;
  p50: number;
  p99: number;
  done: number;
  sent: number;
  coordinatorCpu: number;
  attackerCpu: number;
  operatorEvents: number;
}

const dir = mkdtempSync(join(tmpdir(), 'flock-hostile-'));
const port = await freePort();
const url = `http://127.0.0.1:${port}`;
const coordinator: ChildProcess = spawn(
  process.execPath,
  ['--import', 'tsx', 'apps/coordinator/src/main.ts'],
  {
    cwd: ROOT,
    env: {
      ...process.env,
      FLOCK_PORT: String(port),
      FLOCK_DATA: dir,
      FLOCK_API_KEYS: `${KEY}:bench`,
      // The op the simulated volunteers run (no page ships it).
      FLOCK_EXTRA_OPS: 'sum',
      FLOCK_ADMIN_KEYS: `${ADMIN}:ops`,
      FLOCK_LOG_LEVEL: 'error',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  },
);

try {
  await waitFor(async () => (await fetch(`${url}/healthz`).catch(() => undefined))?.ok === true, 'start');
  const finished = new Map<string, number>();
  const events = new WebSocket(`ws://127.0.0.1:${port}/v1/events?key=${KEY}`);
  events.on('message', (data: Buffer) => {
    const e = (JSON.parse(data.toString()) as { payload: { task_id?: string; state?: string } }).payload;
    if (e.state === 'succeeded' && e.task_id) finished.set(e.task_id, performance.now());
  });
  // An operator's dashboard, which receives capability events.
  let operatorEvents = 0;
  const operator = new WebSocket(`ws://127.0.0.1:${port}/v1/events?key=${ADMIN}`);
  operator.on('message', () => {
    operatorEvents += 1;
  });
  await Promise.all([events, operator].map((ws) => new Promise((r) => ws.once('open', r))));
  const sims = await Promise.all(
    Array.from({ length: 2 }, () => SimulatedVolunteer.connect({ url, capability: { cpu_slots: 4 } })),
  );

  let seq = 0;
  /** Submits RATE tasks a second for SECONDS; latency from the POST to the succeeded event. */
  async function measure(name: string, attacker: ChildProcess | undefined): Promise<Phase> {
    const started = new Map<string, number>();
    const cpu0 = cpuSeconds(coordinator.pid);
    const attacker0 = cpuSeconds(attacker?.pid);
    const events0 = operatorEvents;
    const t0 = performance.now();
    const total = Math.round(SECONDS * RATE);
    const posts: Array<Promise<unknown>> = [];
    for (let i = 0; i < total; i++) {
      const due = t0 + (i * 1000) / RATE;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const id = `${name}-${seq++}`;
      started.set(id, performance.now());
      posts.push(
        fetch(`${url}/v1/tasks`, {
          method: 'POST',
          headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
          body: JSON.stringify({
            task_id: id,
            op: 'sum',
            module: { kind: 'builtin' },
            requirements: { min: { wasm: true } },
            inputs: [{ name: 'x', inline_bytes: 'AQIDBA==' }],
          }),
        }).catch(() => undefined),
      );
    }
    await Promise.all(posts);
    await waitFor(
      () => [...started.keys()].every((id) => finished.has(id)),
      `${name}: every task`,
      60_000,
    ).catch(() => undefined);
    const lat = [...started]
      .filter(([id]) => finished.has(id))
      .map(([id, t]) => finished.get(id)! - t)
      .sort((a, b) => a - b);
    return {
      name,
      p50: percentile(lat, 0.5),
      p99: percentile(lat, 0.99),
      done: lat.length,
      sent: total,
      coordinatorCpu: cpuSeconds(coordinator.pid) - cpu0,
      attackerCpu: cpuSeconds(attacker?.pid) - attacker0,
      operatorEvents: operatorEvents - events0,
    };
  }

  const show = (p: Phase, base?: Phase): string =>
    `${p.name.padEnd(13)} submit→result p50 ${p.p50.toFixed(1).padStart(6)} ms  p99 ${p.p99.toFixed(1).padStart(7)} ms` +
    `  done ${p.done}/${p.sent}  coordinator CPU ${((p.coordinatorCpu / SECONDS) * 100).toFixed(0)}%` +
    (base
      ? `  attacker CPU ${((p.attackerCpu / SECONDS) * 100).toFixed(0)}%  operator events ${p.operatorEvents}` +
        `  p99 ratio ${(p.p99 / base.p99).toFixed(2)}`
      : '');

  console.log(
    `hostile-traffic bench: ${RATE} legitimate tasks/s for ${SECONDS} s per phase; ` +
      `machine ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, node ${process.version}, load ${loadavg()[0]!.toFixed(1)}`,
  );
  await measure('warm-up', undefined);
  const baseline = await measure('baseline', undefined);
  console.log(show(baseline));
  const verdicts: string[] = [];
  for (const attack of ATTACKS) {
    const attacker = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        'bench/hostile/attacker.ts',
        attack,
        `ws://127.0.0.1:${port}/v1/worker`,
        '127.0.0.2',
      ],
      { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] },
    );
    setPriority(attacker.pid!, 19);
    // Let the attack reach full strength before measuring.
    await new Promise((r) => setTimeout(r, 2000));
    const phase = await measure(attack, attacker);
    attacker.kill('SIGKILL');
    await new Promise((r) => attacker.once('exit', r));
    console.log(show(phase, baseline));
    const ratio = phase.p99 / baseline.p99;
    verdicts.push(
      `${attack} ${ratio.toFixed(2)}× (target ≤ ${TARGET[attack]}×: ${ratio <= TARGET[attack] ? 'met' : 'NOT met'})`,
    );
    // Let the coordinator settle (idle connections closed, buckets refilled) before the next one.
    await new Promise((r) => setTimeout(r, 3000));
  }
  console.log(`p99 ratios against the baseline: ${verdicts.join('; ')}`);
  await Promise.all(sims.map((s) => s.close()));
  events.close();
  operator.close();
} finally {
  coordinator.kill('SIGTERM');
  await new Promise((r) => coordinator.once('exit', r));
  rmSync(dir, { recursive: true, force: true });
}
process.exit(0);
