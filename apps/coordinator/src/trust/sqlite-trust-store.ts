import { deserialize, serialize } from 'node:v8';
import type Database from 'better-sqlite3';
import {
  MAX_UNCONFIRMED,
  type Reputation,
  type SpotCheckRecord,
  type TaskVerification,
  type TrustStore,
  type UnconfirmedResult,
  type WorkerStanding,
} from './trust-store.ts';

// Tables of their own (`trust_*`, created if missing) so the store can share the coordinator's
// SQLite file without touching its migrations or `user_version`. Nested records (a task's
// replicas and result groups, a check's known answer with its bytes) are v8-serialised blobs.
const SCHEMA = `
  CREATE TABLE IF NOT EXISTS trust_reputation (
    worker_id TEXT NOT NULL,
    module_hash TEXT NOT NULL,
    adapter_class TEXT NOT NULL,
    consecutive_valid INTEGER NOT NULL,
    valid INTEGER NOT NULL,
    invalid INTEGER NOT NULL,
    accepted_alone INTEGER NOT NULL,
    updated_at_ms INTEGER NOT NULL,
    PRIMARY KEY (worker_id, module_hash, adapter_class)
  );
  CREATE TABLE IF NOT EXISTS trust_standing (
    worker_id TEXT PRIMARY KEY,
    first_seen_ms INTEGER NOT NULL,
    vetted INTEGER NOT NULL,
    quarantined INTEGER NOT NULL,
    quarantined_at_ms INTEGER,
    checks_passed INTEGER NOT NULL,
    checks_failed INTEGER NOT NULL,
    valid_results INTEGER NOT NULL,
    invalid_results INTEGER NOT NULL,
    credit REAL NOT NULL,
    pending_credit REAL NOT NULL,
    suspect INTEGER NOT NULL,
    check_in_flight TEXT
  );
  CREATE TABLE IF NOT EXISTS trust_unconfirmed (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    worker_id TEXT NOT NULL,
    task_id TEXT NOT NULL,
    credit REAL NOT NULL
  );
  CREATE INDEX IF NOT EXISTS trust_unconfirmed_worker ON trust_unconfirmed (worker_id, seq);
  CREATE TABLE IF NOT EXISTS trust_task (task_id TEXT PRIMARY KEY, record BLOB NOT NULL);
  CREATE TABLE IF NOT EXISTS trust_check (check_id TEXT PRIMARY KEY, worker_id TEXT NOT NULL, record BLOB NOT NULL);
`;

interface ReputationRow {
  worker_id: string;
  module_hash: string;
  adapter_class: string;
  consecutive_valid: number;
  valid: number;
  invalid: number;
  accepted_alone: number;
  updated_at_ms: number;
}

interface StandingRow {
  worker_id: string;
  first_seen_ms: number;
  vetted: number;
  quarantined: number;
  quarantined_at_ms: number | null;
  checks_passed: number;
  checks_failed: number;
  valid_results: number;
  invalid_results: number;
  credit: number;
  pending_credit: number;
  suspect: number;
  check_in_flight: string | null;
}

function toReputation(r: ReputationRow): Reputation {
  return {
    workerId: r.worker_id,
    moduleHash: r.module_hash,
    adapterClass: r.adapter_class,
    consecutiveValid: r.consecutive_valid,
    valid: r.valid,
    invalid: r.invalid,
    acceptedAlone: r.accepted_alone,
    updatedAtMs: r.updated_at_ms,
  };
}

function toStanding(r: StandingRow): WorkerStanding {
  return {
    workerId: r.worker_id,
    firstSeenMs: r.first_seen_ms,
    vetted: r.vetted === 1,
    quarantined: r.quarantined === 1,
    quarantinedAtMs: r.quarantined_at_ms ?? undefined,
    checksPassed: r.checks_passed,
    checksFailed: r.checks_failed,
    validResults: r.valid_results,
    invalidResults: r.invalid_results,
    credit: r.credit,
    pendingCredit: r.pending_credit,
    suspect: r.suspect === 1,
    checkInFlight: r.check_in_flight ?? undefined,
  };
}

/**
 * TrustStore on SQLite (better-sqlite3). Pass the coordinator's open database to keep trust state
 * in the same file (and WAL) as tasks; each put is one statement, durable when it returns.
 */
export class SqliteTrustStore implements TrustStore {
  private readonly q;

  constructor(db: Database.Database) {
    db.exec(SCHEMA);
    this.q = {
      getRep: db.prepare<[string, string, string], ReputationRow>(
        'SELECT * FROM trust_reputation WHERE worker_id = ? AND module_hash = ? AND adapter_class = ?',
      ),
      putRep: db.prepare(
        `INSERT OR REPLACE INTO trust_reputation VALUES
         (@workerId, @moduleHash, @adapterClass, @consecutiveValid, @valid, @invalid, @acceptedAlone, @updatedAtMs)`,
      ),
      listRep: db.prepare<[string], ReputationRow>(
        'SELECT * FROM trust_reputation WHERE worker_id = ? ORDER BY module_hash, adapter_class',
      ),
      getStanding: db.prepare<[string], StandingRow>('SELECT * FROM trust_standing WHERE worker_id = ?'),
      putStanding: db.prepare(
        `INSERT OR REPLACE INTO trust_standing VALUES
         (@workerId, @firstSeenMs, @vetted, @quarantined, @quarantinedAtMs, @checksPassed, @checksFailed,
          @validResults, @invalidResults, @credit, @pendingCredit, @suspect, @checkInFlight)`,
      ),
      listStandings: db.prepare<[], StandingRow>('SELECT * FROM trust_standing ORDER BY worker_id'),
      addUnconfirmed: db.prepare(
        'INSERT INTO trust_unconfirmed (worker_id, task_id, credit) VALUES (?, ?, ?)',
      ),
      trimUnconfirmed: db.prepare(
        `DELETE FROM trust_unconfirmed WHERE worker_id = @workerId AND seq <= (
           SELECT seq FROM trust_unconfirmed WHERE worker_id = @workerId ORDER BY seq DESC LIMIT 1 OFFSET @keep)`,
      ),
      listUnconfirmed: db.prepare<[string], { task_id: string; credit: number }>(
        'SELECT task_id, credit FROM trust_unconfirmed WHERE worker_id = ? ORDER BY seq',
      ),
      clearUnconfirmed: db.prepare('DELETE FROM trust_unconfirmed WHERE worker_id = ?'),
      getTask: db.prepare<[string], { record: Buffer }>('SELECT record FROM trust_task WHERE task_id = ?'),
      putTask: db.prepare('INSERT OR REPLACE INTO trust_task VALUES (?, ?)'),
      deleteTask: db.prepare('DELETE FROM trust_task WHERE task_id = ?'),
      getCheck: db.prepare<[string], { record: Buffer }>('SELECT record FROM trust_check WHERE check_id = ?'),
      putCheck: db.prepare('INSERT OR REPLACE INTO trust_check VALUES (?, ?, ?)'),
      deleteCheck: db.prepare('DELETE FROM trust_check WHERE check_id = ?'),
    };
    this.addUnconfirmedTx = db.transaction((workerId: string, entry: UnconfirmedResult) => {
      this.q.addUnconfirmed.run(workerId, entry.taskId, entry.credit);
      this.q.trimUnconfirmed.run({ workerId, keep: MAX_UNCONFIRMED });
    });
  }

  private readonly addUnconfirmedTx: (workerId: string, entry: UnconfirmedResult) => void;

  async getReputation(
    workerId: string,
    moduleHash: string,
    adapterClass: string,
  ): Promise<Reputation | undefined> {
    const row = this.q.getRep.get(workerId, moduleHash, adapterClass);
    return row && toReputation(row);
  }
  async putReputation(rep: Reputation): Promise<void> {
    this.q.putRep.run(rep);
  }
  async listReputations(workerId: string): Promise<Reputation[]> {
    return this.q.listRep.all(workerId).map(toReputation);
  }

  async getStanding(workerId: string): Promise<WorkerStanding | undefined> {
    const row = this.q.getStanding.get(workerId);
    return row && toStanding(row);
  }
  async putStanding(s: WorkerStanding): Promise<void> {
    this.q.putStanding.run({
      ...s,
      vetted: s.vetted ? 1 : 0,
      quarantined: s.quarantined ? 1 : 0,
      quarantinedAtMs: s.quarantinedAtMs ?? null,
      suspect: s.suspect ? 1 : 0,
      checkInFlight: s.checkInFlight ?? null,
    });
  }
  async listStandings(): Promise<WorkerStanding[]> {
    return this.q.listStandings.all().map(toStanding);
  }

  async addUnconfirmed(workerId: string, entry: UnconfirmedResult): Promise<void> {
    this.addUnconfirmedTx(workerId, entry);
  }
  async listUnconfirmed(workerId: string): Promise<UnconfirmedResult[]> {
    return this.q.listUnconfirmed.all(workerId).map((r) => ({ taskId: r.task_id, credit: r.credit }));
  }
  async clearUnconfirmed(workerId: string): Promise<void> {
    this.q.clearUnconfirmed.run(workerId);
  }

  async getTask(taskId: string): Promise<TaskVerification | undefined> {
    const row = this.q.getTask.get(taskId);
    return row && (deserialize(row.record) as TaskVerification);
  }
  async putTask(task: TaskVerification): Promise<void> {
    this.q.putTask.run(task.taskId, serialize(task));
  }
  async deleteTask(taskId: string): Promise<void> {
    this.q.deleteTask.run(taskId);
  }

  async getCheck(checkId: string): Promise<SpotCheckRecord | undefined> {
    const row = this.q.getCheck.get(checkId);
    return row && (deserialize(row.record) as SpotCheckRecord);
  }
  async putCheck(check: SpotCheckRecord): Promise<void> {
    this.q.putCheck.run(check.checkId, check.workerId, serialize(check));
  }
  async deleteCheck(checkId: string): Promise<void> {
    this.q.deleteCheck.run(checkId);
  }
}
