// How both SQL stores keep `insertTasks` all-or-nothing: a batch that meets a conflicting id
// throws `ConflictRollback` inside its transaction, which rolls the whole batch back, and the
// caller reports the outcomes it carries.
import type { InsertOutcome } from './store.ts';

/** Thrown inside an insert transaction to roll it back; carries the outcomes it had reached. */
export class ConflictRollback extends Error {
  constructor(readonly outcomes: InsertOutcome[]) {
    super('conflict');
  }

  /** The outcomes after the rollback: what had been created was not, and is reported as skipped. */
  rolledBack(): InsertOutcome[] {
    return this.outcomes.map((o) => (o.kind === 'created' ? { kind: 'skipped', taskId: o.task.taskId } : o));
  }
}

/** Returns `outcomes`, or throws `ConflictRollback` when one of them is a conflict. */
export function rollBackOnConflict(outcomes: InsertOutcome[]): InsertOutcome[] {
  if (outcomes.some((o) => o.kind === 'conflict')) throw new ConflictRollback(outcomes);
  return outcomes;
}

/** Runs an insert that may roll back on a conflict, and returns its outcomes either way. */
export async function insertOrRollBack(insert: () => Promise<InsertOutcome[]>): Promise<InsertOutcome[]> {
  try {
    return await insert();
  } catch (err) {
    if (err instanceof ConflictRollback) return err.rolledBack();
    throw err;
  }
}
