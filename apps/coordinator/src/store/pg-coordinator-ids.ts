// The `coordinators` table: which process holds each coordinator id (SCALE.md). A process holds
// its id by a random nonce of its own, written when it claims the id and checked by every beat,
// so two live processes started with one FLOCK_COORDINATOR_ID cannot both own its leases. Beats
// are stamped on the database server's clock (`beat_at`), so whether a holder is still alive is
// judged without trusting the clocks of the coordinator machines.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type pg from 'pg';

/** The live process that holds a coordinator id another one asked for. */
export interface IdHolder {
  /** `<host name> pid <pid>` of that process. */
  holder: string;
  /** When it claimed the id (its own clock), ms since the epoch. */
  startedAtMs: number;
  /** How long ago it last beat, on the database server's clock, ms. */
  lastBeatAgoMs: number;
}

/** One process's claim on its coordinator id: the nonce it holds it by and how it names itself. */
export class IdClaim {
  readonly nonce = randomBytes(12).toString('base64url');
  readonly holder = `${hostname()} pid ${process.pid}`;

  constructor(readonly id: string) {}
}

// The holder `c` is alive when it beat within $5 ms on the server's clock; a row written before
// beat_at existed (its coordinator's version did not stamp it) is judged by last_seen_ms against
// the claimer's clock.
const ALIVE = `COALESCE(c.beat_at > clock_timestamp() - make_interval(secs => $5::double precision / 1000),
  c.last_seen_ms >= $2::bigint - $5::double precision)`;

/**
 * Claims `claim.id` for this process: free, held by this process already, or held by one whose
 * last beat is older than `aliveMs`. Undefined when this process holds it now, else the holder.
 */
export async function claimId(
  pool: pg.Pool,
  claim: IdClaim,
  nowMs: number,
  aliveMs: number,
): Promise<IdHolder | undefined> {
  // Twice at most: a holder that leaves between the two statements frees the id for the second try.
  for (let tries = 0; tries < 2; tries++) {
    const { rowCount } = await pool.query(
      `INSERT INTO coordinators AS c (id, started_at_ms, last_seen_ms, nonce, holder, beat_at)
       VALUES ($1, $2, $2, $3, $4, clock_timestamp())
       ON CONFLICT (id) DO UPDATE SET started_at_ms = excluded.started_at_ms,
         last_seen_ms = excluded.last_seen_ms, nonce = excluded.nonce, holder = excluded.holder,
         beat_at = excluded.beat_at
       WHERE c.nonce = $3 OR NOT ${ALIVE}`,
      [claim.id, nowMs, claim.nonce, claim.holder, aliveMs],
    );
    if (rowCount === 1) return undefined;
    const { rows } = await pool.query<{
      holder: string | null;
      started_at_ms: number;
      ago_ms: number | null;
    }>(
      `SELECT holder, started_at_ms,
         (EXTRACT(EPOCH FROM clock_timestamp() - beat_at) * 1000)::bigint AS ago_ms
       FROM coordinators WHERE id = $1`,
      [claim.id],
    );
    const row = rows[0];
    if (row)
      return {
        holder: row.holder ?? 'a coordinator of an earlier version',
        startedAtMs: row.started_at_ms,
        lastBeatAgoMs: Math.max(0, row.ago_ms ?? 0),
      };
  }
  return undefined;
}

/**
 * Records that this process is alive under its id (the row is made if it is missing). False when
 * another process holds the id: it claimed it after this one's beats stopped for longer than the
 * window (a pause, a partition), and this process must stop using it.
 */
export async function beat(pool: pg.Pool, claim: IdClaim, nowMs: number): Promise<boolean> {
  const { rowCount } = await pool.query(
    `INSERT INTO coordinators AS c (id, started_at_ms, last_seen_ms, nonce, holder, beat_at)
     VALUES ($1, $2, $2, $3, $4, clock_timestamp())
     ON CONFLICT (id) DO UPDATE SET last_seen_ms = excluded.last_seen_ms, beat_at = excluded.beat_at
     WHERE c.nonce = $3`,
    [claim.id, nowMs, claim.nonce, claim.holder],
  );
  return rowCount === 1;
}

/** Removes this process's row (not one another process claimed since). */
export async function leave(pool: pg.Pool, claim: IdClaim): Promise<void> {
  await pool.query('DELETE FROM coordinators WHERE id = $1 AND nonce = $2', [claim.id, claim.nonce]);
}
