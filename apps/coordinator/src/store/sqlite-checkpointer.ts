// The SQLite store's WAL checkpoints, off the event loop. With SQLite's automatic checkpoint the
// COMMIT that takes the WAL past 1,000 pages copies the WAL into the database file and fsyncs
// both, inside the event loop: the lease and completion calls' p99 at 100 tasks/s was 3–5 ms with
// it, 0.4–0.9 ms with this (bench/coordinator/checkpoint-costs.ts). The store's connection runs
// with `wal_autocheckpoint = 0` instead, and once its WAL has grown past `startBytes` a worker
// thread with a connection of its own runs `PRAGMA wal_checkpoint(PASSIVE)` every `intervalMs`:
// it never takes the write lock, and a checkpoint that catches up lets the store's next
// transaction restart the WAL from its start; `committed` bounds the WAL when none catches up.
import { statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type Database from 'better-sqlite3';

/** SQLite's own default: the automatic checkpoint runs at this many WAL pages. */
export const AUTOCHECKPOINT_PAGES = 1000;

export interface CheckpointerOptions {
  /**
   * WAL bytes past which the thread starts. Default: half of AUTOCHECKPOINT_PAGES pages, so that
   * it runs (its start takes ~0.1 s) before the WAL is much past SQLite's own threshold.
   */
  startBytes?: number;
  /** WAL frames past which the store itself checkpoints after its next COMMIT (see `committed`). Default 2 × AUTOCHECKPOINT_PAGES. */
  restartFrames?: number;
  /** The thread's checkpoints run this often. Default 100 ms. */
  intervalMs?: number;
  /** How often the store looks at the WAL's size (after a COMMIT). Default 20 ms. */
  lookMs?: number;
  /**
   * Where the one warning goes when the thread dies (the coordinator's log). Default
   * `console.warn`: a store on its own thread (FLOCK_SQLITE_THREAD) has no logger to hand.
   */
  warn?: (message: string) => void;
}

/**
 * Plain JavaScript (no TypeScript loader: the thread starts in tens of ms). Each round is a
 * PASSIVE checkpoint: it copies what no reader needs and waits for no lock (busy: next round).
 * Past `restartFrames` frames it tells the store, which then finishes the job (see `committed`).
 */
const THREAD_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.path, { fileMustExist: true });
db.pragma('busy_timeout = 0');
const passive = db.prepare('PRAGMA wal_checkpoint(PASSIVE)');
function round() {
  try {
    const { log } = passive.get();
    if (log > workerData.restartFrames) parentPort.postMessage(log);
  } catch (err) {
    if (err.code !== 'SQLITE_BUSY' && err.code !== 'SQLITE_LOCKED') throw err;
  }
}
round();
const timer = setInterval(round, workerData.intervalMs);
parentPort.on('message', () => { clearInterval(timer); db.close(); parentPort.postMessage('closed'); });
`;

let driverPath: string | undefined;

/** Runs the WAL checkpoints of the store's connection `db` (file `path`) on a thread, started lazily. */
export class WalCheckpointer {
  private worker: Worker | undefined;
  private readonly walPath: string;
  private readonly startBytes: number;
  private readonly intervalMs: number;
  private readonly restartFrames: number;
  private readonly lookMs: number;
  private readonly warn: (message: string) => void;
  private nextLook = 0;
  /** The WAL file's size at the last look, and the size past which it must not keep growing. */
  private lastSize = 0;
  private readonly restartBytes: number;
  /** The thread said the WAL is past `restartFrames`: the store checkpoints after its next COMMIT. */
  private restartDue = false;
  private readonly checkpoint: Database.Statement;
  /** The thread failed: SQLite's automatic checkpoint is back, and nothing is started again. */
  private fellBack = false;
  private closed = false;
  /** Threads started so far (a test's view). */
  started = 0;

  constructor(
    private readonly db: Database.Database,
    private readonly path: string,
    options: CheckpointerOptions = {},
  ) {
    this.walPath = `${path}-wal`;
    const pageSize = db.pragma('page_size', { simple: true }) as number;
    this.startBytes = options.startBytes ?? (AUTOCHECKPOINT_PAGES / 2) * pageSize;
    this.intervalMs = options.intervalMs ?? 100;
    this.restartFrames = options.restartFrames ?? 2 * AUTOCHECKPOINT_PAGES;
    this.lookMs = options.lookMs ?? 20;
    this.warn = options.warn ?? ((message) => console.warn(`flock: ${message}`));
    // A WAL frame is a page and its 24-byte header.
    this.restartBytes = this.restartFrames * (pageSize + 24);
    db.pragma('wal_autocheckpoint = 0');
    this.checkpoint = db.prepare('PRAGMA wal_checkpoint(PASSIVE)');
  }

  /**
   * Called after each COMMIT: looks at the WAL's size at most every `lookMs` (a clock read
   * otherwise), to start the thread (so short-lived stores that write little never start one) and,
   * once it runs, to see that the file does not keep growing past `restartFrames` frames.
   *
   * Under a steady stream of commits the thread's checkpoints rarely end with nothing left to
   * copy at a moment when no transaction is open, which is what lets the next BEGIN restart the
   * WAL (it grew past 200 MiB in 50,000 tasks of store-costs). So once the thread says the WAL is
   * past `restartFrames`, the store checkpoints here, between its transactions: only the frames
   * written since the thread's last round are left to copy, and its next BEGIN restarts the WAL
   * (this costs the event loop a small copy and two fsyncs once every `restartFrames` frames, where
   * SQLite's automatic checkpoint copied the whole WAL every 1,000).
   */
  committed(): void {
    try {
      if (this.restartDue) {
        // Busy: the thread's round holds the checkpoint lock (PASSIVE does not wait); next COMMIT.
        const { busy } = this.checkpoint.get() as { busy: number };
        this.restartDue = busy !== 0;
        return;
      }
      if (this.fellBack || this.closed) return;
      const now = performance.now();
      if (now < this.nextLook) return;
      this.nextLook = now + this.lookMs;
      const size = statSync(this.walPath, { throwIfNoEntry: false })?.size ?? 0;
      if (!this.worker) {
        if (size > this.startBytes) this.start();
      } else if (size > this.restartBytes && size > this.lastSize) {
        // A restarted WAL is written from its start and the file keeps its size, so a file still
        // growing past the bound means the thread has not kept up (a starved thread on a busy box,
        // before it could say so): the store catches up itself, as SQLite's own checkpoint would.
        this.restartDue = true;
      }
      this.lastSize = size;
    } catch {
      // A checkpoint is housekeeping: the COMMIT stands, and the next one tries again.
    }
  }

  /** Stops the thread (its connection closed) before the store's connection closes. */
  async close(): Promise<void> {
    this.closed = true;
    const worker = this.worker;
    this.worker = undefined;
    if (!worker) return;
    await new Promise<void>((resolve) => {
      worker.once('exit', () => resolve());
      worker.on('message', (message: unknown) => {
        if (message === 'closed') void worker.terminate();
      });
      worker.postMessage('close');
    });
  }

  private start(): void {
    driverPath ??= createRequire(import.meta.url).resolve('better-sqlite3');
    const worker = new Worker(THREAD_SOURCE, {
      eval: true,
      workerData: {
        driver: driverPath,
        path: this.path,
        intervalMs: this.intervalMs,
        restartFrames: this.restartFrames,
      },
    });
    worker.unref();
    worker.on('message', (message: unknown) => {
      if (typeof message === 'number') this.restartDue = true;
    });
    worker.on('error', (err) => this.fallBack(worker, err.message));
    worker.on('exit', (code) => this.fallBack(worker, `exited (code ${code})`));
    this.worker = worker;
    this.started++;
  }

  /** The thread died: SQLite checkpoints in the store's COMMITs again, as without a thread. */
  private fallBack(worker: Worker, why: string): void {
    if (this.worker !== worker) return;
    this.worker = undefined;
    this.fellBack = true;
    if (this.db.open) this.db.pragma(`wal_autocheckpoint = ${AUTOCHECKPOINT_PAGES}`);
    this.warn(`the SQLite checkpoint thread ${why}; checkpoints run in commits again`);
  }
}
