// The PostgreSQL store's connections: the pool's settings and transactions on it.
import pg from 'pg';
import type { PgNotifierOptions } from '../cluster/notify.ts';

export interface PostgresStoreOptions {
  /** Connections in the pool. Default 10. */
  maxConnections?: number;
  /** `application_name` the server shows in pg_stat_activity. Default `flock-coordinator`. */
  applicationName?: string;
  /** Passed to the LISTEN connection of `notifier`. */
  notifier?: PgNotifierOptions;
  /**
   * This coordinator's id when several share the database ([A-Za-z0-9_.-], up to 64). Attempts
   * record it; `openTasks` then returns queued tasks and only this coordinator's running ones.
   * Unset: one coordinator owns everything (as with SQLite).
   */
  coordinatorId?: string;
  /**
   * PostgreSQL `synchronous_commit` for this pool. `on` (default): a commit returns once its WAL
   * is on disk. `off`: once it is in the server's memory; a coordinator crash loses nothing, a
   * database server crash may lose the last few hundred milliseconds of commits (never corrupts).
   */
  synchronousCommit?: 'on' | 'off';
}

/**
 * Splits the URL's own `options` (server settings) off, so that settings can be added to them:
 * pg lets parameters in the connection string override the config object's.
 */
function splitOptions(url: string): { connectionString: string; options: string | undefined } {
  const u = new URL(url);
  const options = u.searchParams.get('options') ?? undefined;
  u.searchParams.delete('options');
  return { connectionString: u.toString(), options };
}

// BIGINT (uids, millisecond times, counts) as JS numbers: every value Flock stores is far below
// 2^53. Set per pool, so other users of `pg` in the process keep the default (string).
const INT8_AS_NUMBER: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === pg.types.builtins.INT8
      ? (text: string) => Number(text)
      : pg.types.getTypeParser(oid, format ?? 'text')) as pg.CustomTypesConfig['getTypeParser'],
};

/** The store's pool for `url` (a checked postgres:// URL), with the server settings it needs. */
export function createPool(url: string, options: PostgresStoreOptions): pg.Pool {
  const parts = splitOptions(url);
  const id = options.coordinatorId;
  // flock.coordinator_id is read by the DEFAULT of attempts.coordinator_id (migration 3).
  const settings = [
    parts.options,
    id !== undefined ? `-c flock.coordinator_id=${id}` : undefined,
    options.synchronousCommit !== undefined
      ? `-c synchronous_commit=${options.synchronousCommit}`
      : undefined,
  ]
    .filter((o) => o !== undefined)
    .join(' ');
  const pool = new pg.Pool({
    connectionString: parts.connectionString,
    max: options.maxConnections ?? 10,
    application_name: options.applicationName ?? 'flock-coordinator',
    types: INT8_AS_NUMBER,
    ...(settings !== '' ? { options: settings } : {}),
  });
  // An idle client that loses its server emits here; the pool drops it and the next query
  // connects afresh. Without a listener the process would crash.
  pool.on('error', () => undefined);
  return pool;
}

/** Runs `body` in a transaction on one client of the pool: committed, or rolled back if it throws. */
export async function inTransaction<T>(
  pool: pg.Pool,
  body: (client: pg.PoolClient) => Promise<T>,
): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const out = await body(client);
    await client.query('COMMIT');
    return out;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}
