// Everything the tab keeps across reloads, in IndexedDB (through idb): the volunteer's settings,
// the worker session, verified module bytes by hash, assignments in flight and results not yet
// acknowledged by the coordinator (deleted only after a result_ack).
import type { ComputeAssignment, ComputeFailure, ComputeResult } from '@flock/protocol';
import { type DBSchema, type IDBPDatabase, openDB } from 'idb';

/** The volunteer's choices (all persisted). */
export interface Settings {
  /** The volunteer pressed Start (consent). */
  started: boolean;
  paused: boolean;
  /** Concurrent WASM jobs, 1..cores−1. */
  cpuSlots: number;
  /** Accept WGSL/built-in GPU jobs. */
  gpu: boolean;
  onlyWhileCharging: boolean;
  onlyWhileVisible: boolean;
}

export const DEFAULT_SETTINGS: Readonly<Settings> = {
  started: false,
  paused: false,
  cpuSlots: 1,
  gpu: true,
  onlyWhileCharging: false,
  onlyWhileVisible: false,
};

/** Lifetime counters shown on the page. */
export interface Totals {
  tasksDone: number;
  tasksFailed: number;
  computeMs: number;
}

/** A finished job waiting for its result_ack. */
export type PendingOutcome =
  | { leaseId: string; result: ComputeResult }
  | { leaseId: string; failure: ComputeFailure };

interface FlockTabDB extends DBSchema {
  kv: { key: string; value: unknown };
  modules: { key: string; value: { hash: string; bytes: Uint8Array; storedAtMs: number } };
  assignments: {
    key: string;
    value: { leaseId: string; assignment: ComputeAssignment; receivedAtMs: number };
  };
  outcomes: { key: string; value: PendingOutcome };
}

/** The tab's IndexedDB database `flock-volunteer`. */
export class TabStore {
  private constructor(private readonly db: IDBPDatabase<FlockTabDB>) {}

  static async open(name = 'flock-volunteer'): Promise<TabStore> {
    const db = await openDB<FlockTabDB>(name, 1, {
      upgrade(db) {
        db.createObjectStore('kv');
        db.createObjectStore('modules', { keyPath: 'hash' });
        db.createObjectStore('assignments', { keyPath: 'leaseId' });
        db.createObjectStore('outcomes', { keyPath: 'leaseId' });
      },
    });
    return new TabStore(db);
  }

  async settings(): Promise<Settings> {
    const stored = (await this.db.get('kv', 'settings')) as Partial<Settings> | undefined;
    return { ...DEFAULT_SETTINGS, ...stored };
  }

  async saveSettings(settings: Settings): Promise<void> {
    await this.db.put('kv', settings, 'settings');
  }

  async session(): Promise<{ sessionToken: string; workerId: string } | undefined> {
    return (await this.db.get('kv', 'session')) as { sessionToken: string; workerId: string } | undefined;
  }

  async saveSession(session: { sessionToken: string; workerId: string }): Promise<void> {
    await this.db.put('kv', session, 'session');
  }

  async totals(): Promise<Totals> {
    return (
      ((await this.db.get('kv', 'totals')) as Totals | undefined) ?? {
        tasksDone: 0,
        tasksFailed: 0,
        computeMs: 0,
      }
    );
  }

  async saveTotals(totals: Totals): Promise<void> {
    await this.db.put('kv', totals, 'totals');
  }

  async module(hash: string): Promise<Uint8Array | undefined> {
    return (await this.db.get('modules', hash))?.bytes;
  }

  async saveModule(hash: string, bytes: Uint8Array): Promise<void> {
    await this.db.put('modules', { hash, bytes, storedAtMs: Date.now() });
  }

  async moduleHashes(): Promise<string[]> {
    return this.db.getAllKeys('modules');
  }

  async saveAssignment(assignment: ComputeAssignment): Promise<void> {
    await this.db.put('assignments', {
      leaseId: assignment.lease_id ?? '',
      assignment,
      receivedAtMs: Date.now(),
    });
  }

  async assignments(): Promise<ComputeAssignment[]> {
    return (await this.db.getAll('assignments')).map((a) => a.assignment);
  }

  async deleteAssignment(leaseId: string): Promise<void> {
    await this.db.delete('assignments', leaseId);
  }

  /** Stores a finished job and forgets its assignment in one transaction (never both, never neither). */
  async finish(outcome: PendingOutcome): Promise<void> {
    const tx = this.db.transaction(['assignments', 'outcomes'], 'readwrite');
    await Promise.all([
      tx.objectStore('outcomes').put(outcome),
      tx.objectStore('assignments').delete(outcome.leaseId),
      tx.done,
    ]);
  }

  /**
   * One transaction of the write-behind (write-behind.ts): assignments and outcomes to keep, and
   * those to forget. A lease's outcome and the deletion of its assignment land together.
   */
  async write(batch: {
    assignments: ComputeAssignment[];
    outcomes: PendingOutcome[];
    deleteAssignments: string[];
    deleteOutcomes: string[];
  }): Promise<void> {
    const tx = this.db.transaction(['assignments', 'outcomes'], 'readwrite');
    const assignments = tx.objectStore('assignments');
    const outcomes = tx.objectStore('outcomes');
    const now = Date.now();
    await Promise.all([
      ...batch.assignments.map((a) =>
        assignments.put({ leaseId: a.lease_id ?? '', assignment: a, receivedAtMs: now }),
      ),
      ...batch.outcomes.map((o) => outcomes.put(o)),
      ...batch.outcomes.map((o) => assignments.delete(o.leaseId)),
      ...batch.deleteAssignments.map((id) => assignments.delete(id)),
      ...batch.deleteOutcomes.map((id) => outcomes.delete(id)),
      tx.done,
    ]);
  }

  async outcomes(): Promise<PendingOutcome[]> {
    return this.db.getAll('outcomes');
  }

  async deleteOutcome(leaseId: string): Promise<void> {
    await this.db.delete('outcomes', leaseId);
  }

  close(): void {
    this.db.close();
  }
}
