import { randomBytes } from 'node:crypto';
import { type CoordinatorConfig, resolveConfig } from '../config.ts';
import type { Coordinator } from '../engine/coordinator.ts';
import { freeSlots } from '../engine/scheduler.ts';
import { TaskTokens } from '../engine/task-tokens.ts';
import { CoordinatorError } from '../errors.ts';
import { type RunningCoordinator, startCoordinator } from '../start-coordinator.ts';
import { PostgresStore } from '../store/postgres-store.ts';
import { storeUnavailable } from '../store/store-unavailable.ts';
import { ClusterEventsHub } from './cluster-events-hub.ts';
import { QueueScanner } from './queue-scanner.ts';

export interface ClusterOptions {
  /** This coordinator's id ([A-Za-z0-9_.-]{1,64}). Default: random `c-` + 12 hex digits. */
  coordinatorId?: string;
  /** Pool size. Default 10. */
  maxConnections?: number;
  /** How often this coordinator records that it is alive and sweeps orphans, ms. Default 1000. */
  beatMs?: number;
  /**
   * A coordinator silent this long is dead: the leases it granted go back to the queue, ms.
   * Default: the lease length (what a volunteer gets before its own lease would expire).
   */
  deadAfterMs?: number;
  /** Tolerated clock difference between coordinators when scanning for queued tasks, ms. Default 5000. */
  clockSkewMs?: number;
  /** A task queued through another coordinator is taken after waiting this long, ms. Default 100. */
  stealAfterMs?: number;
  /** PostgreSQL synchronous_commit of this coordinator's connections (see PostgresStoreOptions). Default on. */
  synchronousCommit?: 'on' | 'off';
  /**
   * Called once this coordinator has stopped because another process claimed its id (its beats
   * had stopped for longer than `idAliveMs(beatMs)`: a pause, a partition). Default: none (the
   * coordinator logs it and stops).
   */
  onIdLost?: (err: CoordinatorError) => void;
}

/**
 * How long a coordinator id stays held after its holder's last beat, ms: 3 beats. A process that
 * starts with the id meanwhile waits for the window to end and is refused if the holder beat
 * again; after it, the id is free (a coordinator killed without leaving can be restarted under
 * its id at once: it waits out the window and takes back its running leases).
 */
export function idAliveMs(beatMs: number): number {
  return 3 * beatMs;
}

/** How long past a holder's window a start waits before it claims again (clock steps, the query). */
const CLAIM_MARGIN_MS = 50;

/** What a cluster coordinator uses for the options left unset (deadAfterMs: the lease length). */
export const DEFAULT_CLUSTER = {
  maxConnections: 10,
  beatMs: 1000,
  clockSkewMs: 5000,
  stealAfterMs: 100,
  // Set on the connections, not left to the server's configuration: SCALE.md promises `on`.
  synchronousCommit: 'on',
} as const satisfies ClusterOptions;

const ENV_INTS: Array<
  [string, 'maxConnections' | 'beatMs' | 'deadAfterMs' | 'clockSkewMs' | 'stealAfterMs', number, number]
> = [
  ['FLOCK_PG_POOL', 'maxConnections', 1, 1000],
  ['FLOCK_CLUSTER_BEAT_MS', 'beatMs', 10, 3600_000],
  ['FLOCK_CLUSTER_DEAD_MS', 'deadAfterMs', 100, 24 * 3600_000],
  ['FLOCK_CLUSTER_SKEW_MS', 'clockSkewMs', 0, 3600_000],
  ['FLOCK_CLUSTER_STEAL_MS', 'stealAfterMs', 0, 3600_000],
];

/**
 * Reads FLOCK_STORE: unset, empty or `sqlite` → undefined (the embedded SQLite store);
 * `postgres://...` → the cluster settings, with FLOCK_COORDINATOR_ID, FLOCK_PG_POOL,
 * FLOCK_CLUSTER_BEAT_MS, FLOCK_CLUSTER_DEAD_MS, FLOCK_CLUSTER_SKEW_MS, FLOCK_CLUSTER_STEAL_MS,
 * FLOCK_PG_SYNC_COMMIT. Those are checked whatever the store, so that a bad value set for a later
 * move to PostgreSQL stops the start now. Anything else throws
 * `CoordinatorError('CONFIG_INVALID')` naming the variable.
 */
export function clusterFromEnv(
  env: NodeJS.ProcessEnv = process.env,
): { url: string; options: ClusterOptions } | undefined {
  const url = env.FLOCK_STORE?.trim() ?? '';
  if (url !== '' && url !== 'sqlite' && !/^postgres(ql)?:\/\/./.test(url)) {
    throw new CoordinatorError(
      'CONFIG_INVALID',
      'FLOCK_STORE must be "sqlite" or a postgres:// URL',
      'FLOCK_STORE',
    );
  }
  const options = clusterOptionsFromEnv(env);
  return url === '' || url === 'sqlite' ? undefined : { url, options };
}

function clusterOptionsFromEnv(env: NodeJS.ProcessEnv): ClusterOptions {
  const options: ClusterOptions = {};
  if (env.FLOCK_COORDINATOR_ID) {
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(env.FLOCK_COORDINATOR_ID)) {
      throw new CoordinatorError(
        'CONFIG_INVALID',
        'FLOCK_COORDINATOR_ID must match [A-Za-z0-9_.-]{1,64}',
        'FLOCK_COORDINATOR_ID',
      );
    }
    options.coordinatorId = env.FLOCK_COORDINATOR_ID;
  }
  for (const [name, key, min, max] of ENV_INTS) {
    const raw = env[name]?.trim();
    if (raw === undefined || raw === '') continue;
    const value = Number(raw);
    if (!/^\d+$/.test(raw) || value < min || value > max) {
      throw new CoordinatorError('CONFIG_INVALID', `${name} must be an integer in ${min}..${max}`, name);
    }
    options[key] = value;
  }
  const sync = env.FLOCK_PG_SYNC_COMMIT?.trim().toLowerCase();
  if (sync !== undefined && sync !== '') {
    if (sync !== 'on' && sync !== 'off') {
      throw new CoordinatorError(
        'CONFIG_INVALID',
        'FLOCK_PG_SYNC_COMMIT must be on or off',
        'FLOCK_PG_SYNC_COMMIT',
      );
    }
    options.synchronousCommit = sync;
  }
  return options;
}

/** A coordinator that is one of several on one PostgreSQL database. */
export interface ClusterCoordinator extends RunningCoordinator {
  coordinatorId: string;
  store: PostgresStore;
}

/** The shared store, as coordinator `id`; `scanner` resyncs after the LISTEN connection was down. */
function clusterStore(
  url: string,
  id: string,
  options: ClusterOptions,
  scanner: () => QueueScanner | undefined,
): PostgresStore {
  return new PostgresStore(url, {
    coordinatorId: id,
    maxConnections: options.maxConnections ?? DEFAULT_CLUSTER.maxConnections,
    applicationName: `flock-${id}`,
    synchronousCommit: options.synchronousCommit ?? DEFAULT_CLUSTER.synchronousCommit,
    // Notifications sent while the LISTEN connection was down are lost: scan everything.
    notifier: { onResync: () => scanner()?.resync() },
  });
}

/**
 * Migrates the shared database, the first statement that reaches it. A server that cannot be
 * reached, refuses the user or lacks the database stops the start with `CONFIG_INVALID` naming
 * FLOCK_STORE (the URL without its password), not a driver's stack trace, nor blamed on FLOCK_HOST
 * as main.ts would read a host name that does not resolve. Other errors pass unchanged.
 */
async function migrateOrExplain(store: PostgresStore, url: string): Promise<void> {
  try {
    await store.migrate();
  } catch (err) {
    if (!storeUnavailable(err)) throw err;
    await store.close().catch(() => undefined);
    throw new CoordinatorError(
      'CONFIG_INVALID',
      `FLOCK_STORE: cannot use ${withoutPassword(url)}: ${(err as Error).message}`,
      'FLOCK_STORE',
    );
  }
}

/** The URL as an operator may see it in a terminal or a log: password and `password=` hidden. */
function withoutPassword(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    if (parsed.searchParams.has('password')) parsed.searchParams.set('password', '***');
    return parsed.href;
  } catch {
    return 'the postgres:// URL';
  }
}

/** Adopts tasks queued through other coordinators, as far as this one's volunteers have room. */
function queueScanner(
  store: PostgresStore,
  coordinator: Coordinator,
  options: ClusterOptions,
  startedMs: number,
): QueueScanner {
  return new QueueScanner(
    store,
    (task) => coordinator.adopt(task),
    {
      stealAfterMs: options.stealAfterMs ?? DEFAULT_CLUSTER.stealAfterMs,
      clockSkewMs: options.clockSkewMs ?? DEFAULT_CLUSTER.clockSkewMs,
      appetite: () => {
        let free = 0;
        for (const w of coordinator.connectedWorkers()) free += freeSlots(w, false) + freeSlots(w, true);
        return 2 * free - coordinator.queueDepth();
      },
      onError: (err) => coordinator.log.warn({ err }, 'cluster: queue scan failed'),
    },
    startedMs,
  );
}

/**
 * Claims the coordinator id for this process, or stops the start with `CONFIG_INVALID` naming
 * FLOCK_COORDINATOR_ID and the live process that holds it. A holder that beat within the window
 * may be alive, or killed a moment ago (a supervisor restarting a crashed coordinator at once):
 * the start waits for the window to pass from that beat and claims again, so only a holder that
 * beat meanwhile keeps the id.
 */
async function claimOrExplain(store: PostgresStore, id: string, aliveMs: number): Promise<void> {
  let held = await store.claimId(Date.now(), aliveMs);
  if (held !== undefined) {
    await new Promise((r) => setTimeout(r, Math.max(0, aliveMs - held!.lastBeatAgoMs) + CLAIM_MARGIN_MS));
    held = await store.claimId(Date.now(), aliveMs);
  }
  if (held === undefined) return;
  await store.close().catch(() => undefined);
  throw new CoordinatorError(
    'CONFIG_INVALID',
    `FLOCK_COORDINATOR_ID=${id} is held by a live coordinator (${held.holder}, started ` +
      `${new Date(held.startedAtMs).toISOString()}, last beat ${held.lastBeatAgoMs} ms ago): stop it or ` +
      `choose another id (a stopped coordinator's id is free ${aliveMs} ms after its last beat)`,
    'FLOCK_COORDINATOR_ID',
  );
}

/** The error a coordinator stops with when another process has claimed its id. */
function idLost(id: string, aliveMs: number): CoordinatorError {
  return new CoordinatorError(
    'CONFIG_INVALID',
    `FLOCK_COORDINATOR_ID=${id} was claimed by another coordinator after this one had not beaten ` +
      `for ${aliveMs} ms: this one stops`,
    'FLOCK_COORDINATOR_ID',
  );
}

/** Requeues the current leases of coordinators silent for `deadAfterMs`. */
async function sweep(store: PostgresStore, coordinator: Coordinator, deadAfterMs: number): Promise<void> {
  const now = Date.now();
  for (const orphan of await store.orphanedLeases(now, deadAfterMs)) {
    const requeued = await store.endAttempt({
      taskUid: orphan.taskUid,
      leaseId: orphan.leaseId,
      outcome: 'lease_expired',
      code: 'COORDINATOR_LOST',
      message: `coordinator ${orphan.coordinatorId ?? '(unknown)'} stopped`,
      requeueAtMs: now,
      countsAsFailure: false,
      nowMs: now,
    });
    if (requeued)
      coordinator.log.info({ lease: orphan.leaseId, from: orphan.coordinatorId }, 'cluster: requeued orphan');
  }
}

/**
 * Every `beatMs`: a beat, then (after a beat that held the id) a sweep of dead coordinators'
 * leases and stalled workflows. Each runs one at a time (one still running skips its next), and
 * beats do not wait for a long sweep: a holder that stops beating for `idAliveMs` loses its id.
 * A sweep follows a beat so that this coordinator's own row is fresh when it looks for orphans
 * (after an outage longer than `deadAfterMs` its own leases would look orphaned). `lost` runs
 * when a beat finds the id held by another process.
 */
function startBeats(
  store: PostgresStore,
  coordinator: Coordinator,
  scanner: QueueScanner,
  beatMs: number,
  deadAfterMs: number,
  lost: () => void,
): NodeJS.Timeout {
  let beating = false;
  let sweeping = false;
  const sweepOnce = (): void => {
    if (sweeping) return;
    sweeping = true;
    void sweep(store, coordinator, deadAfterMs)
      // Workflows whose coordinator is gone are advanced here (engine/workflows.ts).
      .then(() => coordinator.workflows.adoptStalled(deadAfterMs))
      .catch((err: unknown) => coordinator.log.warn({ err }, 'cluster: sweep failed'))
      .finally(() => {
        sweeping = false;
      });
  };
  const timer = setInterval(() => {
    // The beat also wakes the scanner: tasks queued inside the last steal delay are picked up
    // even when no further NOTIFY comes.
    scanner.wake();
    if (beating) return;
    beating = true;
    void store
      .beat(Date.now())
      .then((held) => (held ? sweepOnce() : lost()))
      .catch((err: unknown) => coordinator.log.warn({ err }, 'cluster: beat failed'))
      .finally(() => {
        beating = false;
      });
  }, beatMs);
  timer.unref();
  return timer;
}

/**
 * Starts a coordinator on a PostgreSQL database shared with others (`FLOCK_STORE=postgres://...`).
 * What it adds to `startCoordinator`:
 * - tasks queued through any coordinator reach this one's scheduler: the `flock_task_queued`
 *   NOTIFY (sent by a trigger at commit) triggers a scan of recently queued tasks, adopted into
 *   memory; leases are started with the guarded store transition, so when two coordinators pick
 *   the same task one wins and the other forgets it;
 * - task events fan out to `/v1/events` subscribers on every coordinator (`ClusterEventsHub`);
 * - liveness: every `beatMs` it records itself in `coordinators` and requeues the current leases
 *   of coordinators silent for `deadAfterMs` (e.g. killed with SIGKILL), so no task is lost;
 *   their volunteers reconnect through the load balancer to another coordinator and resume
 *   their session from the shared `workers` table.
 */
export async function startClusterCoordinator(
  url: string,
  partial: Partial<CoordinatorConfig> = {},
  options: ClusterOptions = {},
): Promise<ClusterCoordinator> {
  const config = resolveConfig(partial);
  const id = options.coordinatorId ?? `c-${randomBytes(6).toString('hex')}`;
  let scanner: QueueScanner | undefined;
  const store = clusterStore(url, id, options, () => scanner);
  await migrateOrExplain(store, url);
  const beatMs = options.beatMs ?? DEFAULT_CLUSTER.beatMs;
  await claimOrExplain(store, id, idAliveMs(beatMs));
  // Every coordinator must sign and verify task tokens with one secret: the first to start
  // creates it, the others read it (the coordinator's own get-then-set would race).
  await store.initMeta('task_token_secret', TaskTokens.newSecret().toString('base64'));
  const events = new ClusterEventsHub(config.maxBufferedBytes, id);
  const startedMs = Date.now();
  // The id stays held while the start recovers its tasks (which may take longer than idAliveMs);
  // a start that fails gives it back at once.
  const holding = setInterval(() => void store.beat(Date.now()).catch(() => undefined), beatMs);
  let running: RunningCoordinator;
  try {
    running = await startCoordinator(config, { store, events, shared: true });
  } catch (err) {
    await store.leave().catch(() => undefined);
    throw err;
  } finally {
    clearInterval(holding);
  }
  const coordinator = running.coordinator;
  // Steps of a workflow advanced here may run on another coordinator: their ends advance it.
  events.onRemoteEnd = (tenant, campaignId, taskId) =>
    coordinator.workflows.taskEnded(tenant, campaignId, taskId);
  const scan = queueScanner(store, coordinator, options, startedMs);
  scanner = scan;
  const unlisten = [await events.attach(store), await store.onQueued(() => scan.wake())];
  // Whatever was queued between start()'s load and the LISTEN.
  scan.wake();
  // A coordinator with idle volunteers looks for work queued elsewhere every 250 ms (a scan
  // reads keys only); one with its own backlog does not scan at all (see `appetite`).
  const hunger = setInterval(() => scan.wake(), 250);
  hunger.unref();
  const close = running.close;
  let closing: Promise<void> | undefined;
  // Another process holds the id now: its leases are that one's; this one stops at once.
  let gone = false;
  const lost = (): void => {
    if (gone) return;
    gone = true;
    const err = idLost(id, idAliveMs(beatMs));
    coordinator.log.error({ err }, 'cluster: coordinator id lost');
    void self.close().then(() => options.onIdLost?.(err));
  };
  const timer = startBeats(store, coordinator, scan, beatMs, options.deadAfterMs ?? config.leaseMs, lost);

  const self: ClusterCoordinator = {
    ...running,
    store,
    coordinatorId: id,
    close() {
      closing ??= (async () => {
        clearInterval(timer);
        clearInterval(hunger);
        for (const stop of unlisten) await stop().catch(() => undefined);
        await scan.close();
        // Leaving makes this coordinator's open leases orphans for the others to requeue.
        await store.leave().catch(() => undefined);
        await close();
      })();
      return closing;
    },
  };
  return self;
}
