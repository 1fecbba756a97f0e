// One process per FLOCK_COORDINATOR_ID on a shared PostgreSQL store (SCALE.md): a second live
// coordinator started with an id in use is refused, naming the variable and the process that
// holds it (main.ts: one line, exit 2) once it has waited out idAliveMs and seen the holder beat;
// a holder that stopped beating without leaving (killed) frees its id after idAliveMs, on the
// server's clock, so a start right after it waits and then holds it; one whose id was claimed while its beats
// had stopped (a pause, a partition) finds out at its next beat and stops.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { type ClusterCoordinator, idAliveMs, startClusterCoordinator } from '../src/cluster/cluster.ts';
import type { CoordinatorError } from '../src/errors.ts';
import { PostgresStore } from '../src/store/postgres-store.ts';
import { usePostgres } from './support/postgres.ts';

const ROOT = resolve(import.meta.dirname, '../../..');
// The tests of a window's end beat fast; those of a held id at the default (a loaded machine may
// delay a beat by a few hundred ms, which must not free the id).
const BEAT_MS = 100;
const DEFAULT_BEAT_MS = 1000;
const SELF = `${hostname()} pid ${process.pid}`;
const harness = usePostgres();
let dir: string;
const started: ClusterCoordinator[] = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'flock-pg-id-'));
});
afterAll(async () => {
  for (const c of started) await c.close();
  rmSync(dir, { recursive: true, force: true });
});

async function start(
  url: string,
  id: string,
  beatMs = BEAT_MS,
  onIdLost?: (err: CoordinatorError) => void,
): Promise<ClusterCoordinator> {
  const c = await startClusterCoordinator(
    url,
    { port: 0, dataDir: dir, logLevel: 'silent' },
    { coordinatorId: id, beatMs, ...(onIdLost ? { onIdLost } : {}) },
  );
  started.push(c);
  return c;
}

/** What a start refuses with (undefined when it starts). */
async function refusal(url: string, id: string, beatMs = BEAT_MS): Promise<unknown> {
  try {
    await start(url, id, beatMs);
  } catch (err) {
    return err;
  }
  return undefined;
}

/** The refusal's message, with the holder's start time and beat age made exact. */
const shape = (message: string): string =>
  message.replace(/started \S+Z/, 'started <time>').replace(/last beat \d+ ms ago/, 'last beat <n> ms ago');

/** main.ts with these FLOCK_* variables; its exit code and stderr. */
function startMain(env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('FLOCK_')));
  return new Promise((done) => {
    const child = execFile(
      process.execPath,
      ['--import', 'tsx', 'apps/coordinator/src/main.ts'],
      { cwd: ROOT, env: { ...inherited, FLOCK_LOG_LEVEL: 'warn', ...env }, timeout: 30_000 },
      (_err, _stdout, stderr) => done({ code: child.exitCode, stderr }),
    );
  });
}

test('a second live coordinator with the same id is refused; a left id is free at once', async () => {
  const url = await harness().createSchema();
  const first = await start(url, 'c1', DEFAULT_BEAT_MS);
  const err = await refusal(url, 'c1', DEFAULT_BEAT_MS);
  expect(err).toMatchObject({ code: 'CONFIG_INVALID', field: 'FLOCK_COORDINATOR_ID' });
  expect(shape((err as Error).message)).toBe(
    `FLOCK_COORDINATOR_ID=c1 is held by a live coordinator (${SELF}, started <time>, last beat <n> ms ago): ` +
      `stop it or choose another id (a stopped coordinator's id is free ${idAliveMs(DEFAULT_BEAT_MS)} ms after its last beat)`,
  );
  // Another id starts beside it.
  expect(await refusal(url, 'c2')).toBeUndefined();

  // main.ts: one line naming the variable and the holder, exit 2.
  const main = await startMain({
    FLOCK_STORE: url,
    FLOCK_COORDINATOR_ID: 'c1',
    FLOCK_PORT: '0',
    FLOCK_DATA: dir,
  });
  expect({ code: main.code, stderr: shape(main.stderr) }).toEqual({
    code: 2,
    stderr:
      `flock: bad configuration: FLOCK_COORDINATOR_ID=c1 is held by a live coordinator (${SELF}, started <time>, ` +
      `last beat <n> ms ago): stop it or choose another id (a stopped coordinator's id is free ` +
      `${idAliveMs(DEFAULT_BEAT_MS)} ms after its last beat)\n`,
  });

  // Stopped (SIGTERM): it leaves, and its id is free at once.
  await first.close();
  expect(await refusal(url, 'c1')).toBeUndefined();
});

test("a start right after its holder was killed waits out the window from the holder's last beat, then holds the id", async () => {
  const url = await harness().createSchema();
  // A window long enough that the start's first claim (after a migration check) falls in it.
  const GHOST_BEAT_MS = 500;
  // A holder killed without leaving: it claimed the id, beat, and its connections went away.
  const ghost = new PostgresStore(url, { maxConnections: 1, coordinatorId: 'k1' });
  await ghost.migrate();
  expect(await ghost.claimId(Date.now(), idAliveMs(GHOST_BEAT_MS))).toBeUndefined();
  expect(await ghost.beat(Date.now())).toBe(true);
  await ghost.close();
  const diedAt = Date.now();

  // What a supervisor restarting a crashed coordinator does: start again at once. Before, the
  // start was refused until the window had passed.
  expect(await refusal(url, 'k1', GHOST_BEAT_MS)).toBeUndefined();
  // Not before the window on the server's clock (the client's may differ by the statement's time).
  expect(Date.now() - diedAt).toBeGreaterThanOrEqual(idAliveMs(GHOST_BEAT_MS) - 20);
  // It holds the id now: a second start is refused.
  expect(await refusal(url, 'k1', GHOST_BEAT_MS)).toMatchObject({ field: 'FLOCK_COORDINATOR_ID' });
});

test('a coordinator whose id another process claimed stops at its next beat', async () => {
  const url = await harness().createSchema();
  const lost: CoordinatorError[] = [];
  const c = await start(url, 'p1', BEAT_MS, (err) => lost.push(err));
  // What a second process writes when it claims the id after this one's beats stopped.
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  try {
    await admin.query(
      "UPDATE coordinators SET nonce = 'other', holder = 'elsewhere pid 1', beat_at = clock_timestamp() WHERE id = 'p1'",
    );
    await expect.poll(() => lost.length, { timeout: 5000, interval: 20 }).toBe(1);
    expect(lost[0]).toMatchObject({
      code: 'CONFIG_INVALID',
      field: 'FLOCK_COORDINATOR_ID',
      message: `FLOCK_COORDINATOR_ID=p1 was claimed by another coordinator after this one had not beaten for ${idAliveMs(BEAT_MS)} ms: this one stops`,
    });
    // It stopped serving, and left the other's row in place.
    await expect(fetch(`${c.url}/healthz`)).rejects.toThrow();
    const { rows } = await admin.query("SELECT holder FROM coordinators WHERE id = 'p1'");
    expect(rows).toEqual([{ holder: 'elsewhere pid 1' }]);
  } finally {
    await admin.end();
  }
});
