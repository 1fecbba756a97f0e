// Scale-out throughput: the same tasks and the same simulated volunteers against one
// coordinator on SQLite (the baseline) and against 1, 2 and 3 coordinators on one PostgreSQL,
// in one run. Volunteers are spread round-robin over the coordinators, and so are the
// requester's batches. Each coordinator is its own process (`main.ts`, FLOCK_STORE for
// PostgreSQL); the volunteers and the requester share this process. Prints tasks/s of each and
// the ratio to the SQLite baseline.
//
//   npx tsx bench/scale/throughput.ts            # 3,000 tasks, 30 volunteers x 2 slots
//   options: --tasks N --volunteers N --slots N --batch N --rounds R (median of R, order rotated)
// PostgreSQL runs with synchronous_commit on (a commit waits for its WAL fsync, stricter than
// SQLite's synchronous=NORMAL), plus one row of 3 coordinators with it off (FLOCK_PG_SYNC_COMMIT).
// PostgreSQL: the private server of scripts/postgres.sh (started and stopped here), a fresh
// database per configuration; FLOCK_TEST_PG_URL uses an existing server instead.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import pg from 'pg';
import { SimulatedVolunteer } from '../../apps/coordinator/src/sim/simulated-volunteer.ts';

const argv = process.argv.slice(2);
const option = (name: string, fallback: number): number => {
  const i = argv.indexOf(name);
  return i >= 0 && argv[i + 1] !== undefined ? Number(argv[i + 1]) : fallback;
};
const TASKS = option('--tasks', 3000);
const VOLUNTEERS = option('--volunteers', 30);
const SLOTS = option('--slots', 2);
const BATCH = option('--batch', 250);
const ROUNDS = option('--rounds', 1);
const ROOT = resolve(import.meta.dirname, '../..');
const KEY = 'scale-bench-key-0123456789';

function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const srv = createServer();
    srv.once('error', fail);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => done(port));
    });
  });
}

async function until(
  check: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs: number,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function startCoordinator(env: Record<string, string>): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', 'apps/coordinator/src/main.ts'], {
    cwd: ROOT,
    env: {
      ...process.env,
      ...env,
      FLOCK_PORT: String(port),
      FLOCK_API_KEYS: `${KEY}:bench`,
      // The op the simulated volunteers run (no page ships it).
      FLOCK_EXTRA_OPS: 'sum',
      FLOCK_LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  await until(
    async () => (await fetch(`${url}/healthz`).catch(() => undefined))?.ok === true,
    'start',
    60_000,
  );
  return { url, child };
}

interface Outcome {
  label: string;
  seconds: number;
  perSecond: number;
}

/** Runs TASKS through `count` coordinators made by `env(i)`; returns tasks/s. */
async function run(
  label: string,
  count: number,
  env: (i: number) => Record<string, string>,
): Promise<Outcome> {
  const nodes = [await startCoordinator(env(0))];
  // The first one migrates the schema; the others start together.
  nodes.push(
    ...(await Promise.all(Array.from({ length: count - 1 }, (_, i) => startCoordinator(env(i + 1))))),
  );
  const sims: SimulatedVolunteer[] = [];
  let acked = 0;
  try {
    for (let v = 0; v < VOLUNTEERS; v++) {
      const sim = await SimulatedVolunteer.connect({
        url: nodes[v % count]!.url,
        capability: { cpu_slots: SLOTS },
        run: ({ assignment }) => {
          let sum = 0;
          for (const b of assignment.envelope?.inputs?.[0]?.inline_bytes ?? []) sum += b;
          return { outputs: [{ name: 'sum', inline_json: String(sum) }] };
        },
      });
      sim.on('ack', (ack: { accepted: boolean }) => {
        if (ack.accepted) acked += 1;
      });
      sims.push(sim);
    }
    const started = Date.now();
    const submits: Promise<void>[] = [];
    for (let start = 0, k = 0; start < TASKS; start += BATCH, k++) {
      const tasks = [];
      for (let i = start; i < Math.min(TASKS, start + BATCH); i++) {
        tasks.push({
          task_id: `s-${i}`,
          op: 'sum',
          module: { kind: 'builtin' },
          requirements: { min: { wasm: true } },
          inputs: [{ name: 'x', inline_bytes: Buffer.from([i & 0xff, 1, 2, 3]).toString('base64') }],
        });
      }
      const url = nodes[k % count]!.url;
      submits.push(
        fetch(`${url}/v1/campaigns`, {
          method: 'POST',
          headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
          body: JSON.stringify({ campaign_id: `scale-${start}`, tasks }),
        }).then(async (res) => {
          if (res.status !== 201) throw new Error(`submit failed: ${res.status} ${await res.text()}`);
        }),
      );
      // One batch in flight per coordinator, like one requester per coordinator.
      if (submits.length >= count) await Promise.all(submits.splice(0));
    }
    await Promise.all(submits);
    await until(() => acked >= TASKS, `${label}: all results acknowledged`, 600_000);
    const seconds = (Date.now() - started) / 1000;
    if (acked !== TASKS) throw new Error(`${label}: ${acked} results accepted for ${TASKS} tasks`);
    return { label, seconds, perSecond: TASKS / seconds };
  } finally {
    await Promise.all(sims.map((s) => s.close()));
    await Promise.all(
      nodes.map(
        ({ child }) =>
          new Promise<void>((done) => {
            child.once('exit', () => done());
            child.kill('SIGTERM');
          }),
      ),
    );
  }
}

async function main(): Promise<void> {
  const script = join(ROOT, 'scripts/postgres.sh');
  const external = process.env.FLOCK_TEST_PG_URL;
  const server =
    external ?? execFileSync('bash', [script, 'acquire', String(process.pid)], { encoding: 'utf8' }).trim();
  const admin = new pg.Client({ connectionString: server });
  await admin.connect();
  const databases: string[] = [];
  const dirs: string[] = [];
  const freshDatabase = async (): Promise<string> => {
    const name = `flock_bench_${databases.length}_${process.pid}`;
    await admin.query(`DROP DATABASE IF EXISTS ${name}`);
    await admin.query(`CREATE DATABASE ${name}`);
    databases.push(name);
    const u = new URL(server);
    u.pathname = `/${name}`;
    return u.toString();
  };
  const dataDir = (): string => {
    const dir = mkdtempSync(join(tmpdir(), 'flock-scale-'));
    dirs.push(dir);
    return dir;
  };
  console.log(
    `scale-out throughput: ${TASKS} tasks, ${VOLUNTEERS} volunteers x ${SLOTS} slots, batches of ${BATCH}; ` +
      `${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), Node ${process.version}`,
  );
  try {
    /** `sync` set: PostgreSQL with that synchronous_commit; unset: SQLite. */
    interface Config {
      label: string;
      count: number;
      sync?: 'on' | 'off';
    }
    const configs: Config[] = [{ label: '1 coordinator, SQLite', count: 1 }];
    for (const n of [1, 2, 3]) {
      configs.push({ label: `${n} coordinator${n > 1 ? 's' : ''}, PostgreSQL`, count: n, sync: 'on' });
    }
    configs.push({ label: '3 coordinators, PostgreSQL, async commit', count: 3, sync: 'off' });
    const seconds = new Map<string, number[]>(configs.map((c) => [c.label, []]));
    for (let round = 0; round < ROUNDS; round++) {
      // Rotate the order each round, so that drift in the machine's load favours no one.
      const order = configs.map((_, i) => configs[(i + round) % configs.length]!);
      for (const config of order) {
        const dir = dataDir();
        const url = config.sync ? await freshDatabase() : '';
        const env = (i: number): Record<string, string> =>
          config.sync
            ? {
                FLOCK_STORE: url,
                FLOCK_COORDINATOR_ID: `c${i + 1}`,
                FLOCK_DATA: dir,
                FLOCK_PG_SYNC_COMMIT: config.sync,
              }
            : { FLOCK_DATA: dir };
        const out = await run(config.label, config.count, env);
        seconds.get(config.label)!.push(out.seconds);
        console.log(
          `  round ${round + 1}: ${config.label}: ${out.perSecond.toFixed(0)} tasks/s (load average ${loadavg()[0]!.toFixed(1)})`,
        );
      }
    }
    const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const base = TASKS / median(seconds.get(configs[0]!.label)!);
    for (const c of configs) {
      const perSecond = TASKS / median(seconds.get(c.label)!);
      console.log(
        `${c.label.padEnd(44)} ${perSecond.toFixed(0).padStart(6)} tasks/s  x${(perSecond / base).toFixed(2)} of SQLite`,
      );
    }
  } finally {
    for (const name of databases) await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
    if (external === undefined) execFileSync('bash', [script, 'release', String(process.pid)]);
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
