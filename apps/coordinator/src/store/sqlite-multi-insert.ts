// Multi-row INSERTs for the SQLite store's hot appends (audit rows, attempt rows): a batch of
// rows goes in as `INSERT … VALUES (…), (…), …`, one statement run per up to 32 rows instead of one
// per row. Each better-sqlite3 run costs about 0.5 µs of binding and stepping beyond the row's own
// B-tree work (measured: 2.6 → 2.1 µs per audit row in batches of 30). With a `tail`, the same
// VALUES list feeds an `UPDATE … FROM (VALUES …) AS v WHERE …` (a batch's ended attempts).
import type Database from 'better-sqlite3';

/** Rows per statement at most (32 × 9 values stays far under SQLite's variable limit). */
const CHUNK = 32;

export class MultiInsert {
  /** Statements by row count, prepared on first use (at most `CHUNK` of them). */
  private readonly bySize = new Map<number, Database.Statement<unknown[]>>();

  /**
   * `head` is `INSERT INTO t (a, b, …)`; `tuple` one row's `(?, ?, …)` with `width` placeholders;
   * `tail`, if any, follows the VALUES list (`head` `UPDATE t SET … FROM (`, `tail` `) AS v WHERE …`).
   */
  constructor(
    private readonly db: Database.Database,
    private readonly head: string,
    private readonly tuple: string,
    private readonly width: number,
    private readonly tail = '',
  ) {}

  /** Inserts the rows whose values lie one after another in `values` (`width` each), in order. */
  run(values: unknown[]): void {
    const rows = values.length / this.width;
    for (let first = 0; first < rows; first += CHUNK) {
      const n = Math.min(CHUNK, rows - first);
      const chunk = n === rows ? values : values.slice(first * this.width, (first + n) * this.width);
      this.statement(n).run(chunk);
    }
  }

  private statement(rows: number): Database.Statement<unknown[]> {
    let stmt = this.bySize.get(rows);
    if (!stmt) {
      const values = Array(rows).fill(this.tuple).join(', ');
      stmt = this.db.prepare<unknown[]>(`${this.head} VALUES ${values}${this.tail}`);
      this.bySize.set(rows, stmt);
    }
    return stmt;
  }
}
