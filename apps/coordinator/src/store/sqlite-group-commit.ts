import type Database from 'better-sqlite3';

/**
 * The SQLite store's group commit: every write of one event-loop turn runs in one transaction.
 * The first write opens it, a setImmediate commits it, and every write's promise settles only
 * after that COMMIT, so nothing is acknowledged before it is durable. Each write is a savepoint:
 * one that throws rolls back alone.
 */
export class GroupCommit {
  private open = false;
  private readonly waiters: Array<{ resolve: () => void; reject: (err: unknown) => void }> = [];
  /** Prepared once: `db.transaction(fn)` would build a wrapper per write, and `exec` parse each time. */
  private readonly sql: Record<
    'begin' | 'commit' | 'savepoint' | 'release' | 'rollbackTo',
    Database.Statement
  >;

  /** `afterCommit` runs after each successful COMMIT (the WAL checkpointer's look at the WAL). */
  constructor(
    private readonly db: Database.Database,
    private readonly afterCommit?: () => void,
  ) {
    this.sql = {
      begin: db.prepare('BEGIN IMMEDIATE'),
      commit: db.prepare('COMMIT'),
      savepoint: db.prepare('SAVEPOINT flock_write'),
      release: db.prepare('RELEASE flock_write'),
      rollbackTo: db.prepare('ROLLBACK TO flock_write'),
    };
  }

  /** Runs a write inside the transaction of the current turn; settles after its COMMIT. */
  write<T>(fn: () => T): Promise<T> {
    if (!this.open) {
      this.sql.begin.run();
      this.open = true;
      setImmediate(() => this.commit());
    }
    let value: T;
    this.sql.savepoint.run();
    try {
      value = fn();
      this.sql.release.run();
    } catch (err) {
      this.sql.rollbackTo.run();
      this.sql.release.run();
      return Promise.reject(err);
    }
    return new Promise<T>((resolve, reject) => {
      this.waiters.push({ resolve: () => resolve(value), reject });
    });
  }

  /** Reads wait for the open group commit: nothing uncommitted is ever shown or acted on. */
  committed(): Promise<void> | undefined {
    if (!this.open) return undefined;
    return new Promise<void>((resolve) => this.waiters.push({ resolve, reject: () => resolve() }));
  }

  /** Commits the open transaction, if any, and settles the writes it holds. */
  commit(): void {
    if (!this.open) return;
    this.open = false;
    const waiters = this.waiters.splice(0);
    try {
      this.sql.commit.run();
    } catch (err) {
      if (this.db.inTransaction) this.db.exec('ROLLBACK');
      for (const w of waiters) w.reject(err);
      return;
    }
    this.afterCommit?.();
    for (const w of waiters) w.resolve();
  }
}
