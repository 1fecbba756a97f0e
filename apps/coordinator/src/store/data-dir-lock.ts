// One coordinator process per data directory on the embedded SQLite store: two would both recover
// the open tasks of `flock.db` and run them twice. The lock is SQLite's own, held on
// `<dataDir>/coordinator.lock` in exclusive locking mode from the first write until the process
// closes it or ends, however it ends (the operating system drops a dead process's file locks), so
// a killed coordinator's directory is free at once. The holder names itself in
// `coordinator.holder` beside it, for the refusal of the next one.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { CoordinatorError } from '../errors.ts';

export class DataDirLock {
  private constructor(private readonly db: Database.Database) {}

  /**
   * Takes the lock of `dataDir` (made if missing), or throws `CoordinatorError('CONFIG_INVALID')`
   * naming FLOCK_DATA and the process that holds it.
   */
  static acquire(dataDir: string): DataDirLock {
    mkdirSync(dataDir, { recursive: true });
    const db = new Database(join(dataDir, 'coordinator.lock'), { timeout: 0 });
    const holder = `${hostname()} pid ${process.pid}, started ${new Date().toISOString()}`;
    try {
      db.pragma('locking_mode = EXCLUSIVE');
      // The first write takes the exclusive lock, kept until the connection closes.
      db.exec('CREATE TABLE IF NOT EXISTS holder (id INTEGER PRIMARY KEY, holder TEXT NOT NULL)');
      db.prepare('INSERT OR REPLACE INTO holder (id, holder) VALUES (1, ?)').run(holder);
    } catch (err) {
      db.close();
      if ((err as { code?: unknown }).code !== 'SQLITE_BUSY') throw err;
      throw new CoordinatorError(
        'CONFIG_INVALID',
        `FLOCK_DATA=${dataDir} is in use by another live coordinator (${holderOf(dataDir)}): stop it or ` +
          'use another data directory',
        'FLOCK_DATA',
      );
    }
    writeFileSync(join(dataDir, 'coordinator.holder'), `${holder}\n`);
    return new DataDirLock(db);
  }

  /** Gives the directory back (the coordinator stopped). */
  release(): void {
    if (this.db.open) this.db.close();
  }
}

function holderOf(dataDir: string): string {
  try {
    return readFileSync(join(dataDir, 'coordinator.holder'), 'utf8').trim();
  } catch {
    return 'its process is not named';
  }
}
