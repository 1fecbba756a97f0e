// Column projection for data.query's Parquet inputs, decided by DuckDB itself: before a job decodes
// its Parquet inputs, a throwaway database (opened on the same duckdb-wasm, then replaced by the
// job's) gets a zero-row table per input with the input's real schema, is locked down as the job's
// is, and EXPLAINs the caller's query; the columns each scan of an input table projects in that plan
// are the columns the job decodes. Anything unclear (an error, a scan without a plain projection
// list, a table function that reads the catalog, SQL that binds by position or reads data at bind
// time) decodes every column: projection is only ever an optimisation, never a change of result.
import type { DataInputFormat } from '../methods/data.ts';
import { parquetSchema } from './data-parquet.ts';
import { arrowStreamOf, type Column, jsonArrayOf, sqlIdent, sqlString } from './data-plan.ts';

/** The part of duckdb-wasm a projection pass uses (data-job.ts's DuckDBWasm and WasmConnection). */
export interface ExplainDB {
  open(config: { maximumThreads?: number }): void;
  connect(): ExplainConnection;
  registerFileBuffer(name: string, buffer: Uint8Array): void;
  dropFiles(names?: string[]): void;
}
export interface ExplainConnection {
  query(text: string): { toArray(): Array<{ toJSON(): Record<string, unknown> }> };
  insertArrowFromIPCStream(buffer: Uint8Array, options: { name: string }): void;
  insertJSONFromPath(path: string, options: { name: string }): void;
  close(): void;
}

/** One input of the job, as the projection pass sees it. */
export interface ProjectionInput {
  table: string;
  format: DataInputFormat;
  bytes: Uint8Array;
}

/**
 * What to decode of a Parquet input: `columns` in the file's order (a subset of `schema`), or
 * undefined for every column; `schema` is the table's columns as DuckDB types them.
 */
export interface ParquetProjection {
  schema: Column[];
  columns: string[] | undefined;
}

/**
 * SQL whose meaning depends on more than the columns a plan scans: positional references (`#2`),
 * `rowid` (not printed in a scan's projections), PIVOT (reads the data at bind time), DESCRIBE/SHOW/
 * SUMMARIZE/PRAGMA (read the schema). Checked on the raw text: a false match only costs speed.
 */
const WHOLE_TABLES =
  /#\s*\d|\b(rowid|pivot|unpivot|pivot_wider|pivot_longer|describe|show|summarize|pragma)\b/i;

/** Table functions a plan may scan that read no catalog (anything else: every column). */
const HARMLESS_FUNCTIONS = new Set(['RANGE', 'GENERATE_SERIES', 'UNNEST']);

/**
 * Optimizers off in the throwaway database: each moves a column's use out of the scan's projection
 * list (pushed filters, dynamic filters, late materialization) or drops the scan of an empty table.
 */
const DISABLED_OPTIMIZERS =
  'filter_pushdown,statistics_propagation,top_n,late_materialization,join_filter_pushdown,sampling_pushdown';

/** A zero-row Arrow IPC stream with an Arrow input's schema: its first message, then end-of-stream. */
function arrowSchemaOnly(bytes: Uint8Array): Uint8Array | undefined {
  const stream = arrowStreamOf(bytes);
  if (typeof stream === 'string' || stream.byteLength < 8) return undefined;
  const view = new DataView(stream.buffer, stream.byteOffset, stream.byteLength);
  const continued = view.getUint32(0, true) === 0xffffffff;
  const prefix = continued ? 8 : 4;
  const end = prefix + view.getInt32(continued ? 4 : 0, true);
  if (end > stream.byteLength || end <= prefix) return undefined;
  const out = new Uint8Array(end + 8);
  out.set(stream.subarray(0, end));
  out.set([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0], end);
  return out;
}

/** Creates input `i` as a table with its real schema (zero rows where that is cheap). */
function createTable(db: ExplainDB, conn: ExplainConnection, input: ProjectionInput, i: number): void {
  const name = { name: input.table };
  const file = `schema_${i}.${input.format}`;
  if (input.format === 'parquet') conn.insertArrowFromIPCStream(parquetSchema(input.bytes), name);
  else if (input.format === 'arrow') {
    const schema = arrowSchemaOnly(input.bytes);
    if (!schema) throw new Error('no Arrow schema');
    conn.insertArrowFromIPCStream(schema, name);
  } else if (input.format === 'csv') {
    // The sniffer reads a sample, as the job's load does; LIMIT 0 reads no rows beyond it.
    db.registerFileBuffer(file, new Uint8Array(input.bytes));
    conn.query(`CREATE TABLE ${sqlIdent(input.table)} AS SELECT * FROM read_csv(${sqlString(file)}) LIMIT 0`);
  } else {
    // duckdb-wasm's JSON import types the columns from the whole input: load it as the job does.
    db.registerFileBuffer(file, jsonArrayOf(new Uint8Array(input.bytes)));
    conn.insertJSONFromPath(file, name);
  }
}

interface PlanNode {
  name?: unknown;
  children?: unknown;
  extra_info?: Record<string, unknown>;
}

/**
 * The columns each input table's scans project in DuckDB's JSON plan (`EXPLAIN (FORMAT json)`):
 * a map from table to the set of its columns, `undefined` for a table whose scans are unclear; a
 * table not scanned at all is absent. Returns undefined when the whole plan is unclear.
 */
export function scannedColumns(
  plan: unknown,
  schemas: ReadonlyMap<string, readonly string[]>,
): Map<string, Set<string> | undefined> | undefined {
  const found = new Map<string, Set<string> | undefined>();
  let clear = true;
  const visit = (node: PlanNode): void => {
    const info = node.extra_info ?? {};
    const fn = info.Function;
    if (typeof fn === 'string' && !HARMLESS_FUNCTIONS.has(fn.trim().toUpperCase())) clear = false;
    const table = info.Table;
    const columns = typeof table === 'string' ? schemas.get(table) : undefined;
    if (typeof table === 'string' && columns) {
      const seen = found.has(table) ? found.get(table) : new Set<string>();
      found.set(table, seen && scanColumns(node, info, columns, seen));
    }
    if (Array.isArray(node.children)) for (const child of node.children) visit(child as PlanNode);
  };
  if (!Array.isArray(plan)) return undefined;
  for (const root of plan) visit(root as PlanNode);
  return clear ? found : undefined;
}

/** Adds one scan's projected columns to `into`; undefined when the scan is not a plain one. */
function scanColumns(
  node: PlanNode,
  info: Record<string, unknown>,
  columns: readonly string[],
  into: Set<string>,
): Set<string> | undefined {
  if (String(node.name).trim() !== 'SEQ_SCAN' || 'Filters' in info) return undefined;
  const listed = info.Projections;
  const names = typeof listed === 'string' ? (listed === '' ? [] : [listed]) : listed;
  if (!Array.isArray(names)) return undefined;
  for (const entry of names) {
    // A struct field pushed into the scan ("s.a") reads its column.
    const column = columns.find((c) => entry === c || String(entry).startsWith(`${c}.`));
    if (column === undefined) return undefined;
    into.add(column);
  }
  return into;
}

/** A column name the plan's text could confuse (a dot reads as a struct field; a newline splits it). */
const plainName = (name: string): boolean => !/[.\n\r]/.test(name);

/**
 * For each Parquet input (by index), what to decode; an input not in the map: every column. `lock` locks a connection down as the job's
 * (before the caller's SQL reaches it). Opens a database on `db` (the job opens its own after).
 */
export function projectParquet(
  db: ExplainDB,
  inputs: readonly ProjectionInput[],
  sql: string,
  lock: (conn: ExplainConnection) => void,
): Map<number, ParquetProjection> {
  const result = new Map<number, ParquetProjection>();
  if (!inputs.some((input) => input.format === 'parquet') || WHOLE_TABLES.test(sql)) return result;
  db.open({ maximumThreads: 1 });
  const conn = db.connect();
  try {
    for (const [i, input] of inputs.entries()) createTable(db, conn, input, i);
    db.dropFiles();
    const schemas = new Map<string, Column[]>();
    for (const [i, input] of inputs.entries()) {
      if (input.format !== 'parquet') continue;
      const schema = conn
        .query(`DESCRIBE ${sqlIdent(input.table)}`)
        .toArray()
        .map((row) => row.toJSON())
        .map((r) => ({ name: String(r.column_name), type: String(r.column_type) }));
      schemas.set(input.table, schema);
      result.set(i, { schema, columns: undefined });
    }
    conn.query(`SET disabled_optimizers = ${sqlString(DISABLED_OPTIMIZERS)}`);
    lock(conn);
    const rows = conn.query(`EXPLAIN (FORMAT json) ${sql}\n`).toArray();
    const text = rows
      .map((row) => row.toJSON())
      .find((r) => r.explain_key === 'physical_plan')?.explain_value;
    const names = new Map([...schemas].map(([table, schema]) => [table, schema.map((c) => c.name)]));
    const scanned = scannedColumns(JSON.parse(String(text)), names);
    if (!scanned) return result;
    for (const [i, projection] of result) {
      const table = inputs[i]!.table;
      const used = scanned.get(table);
      const all = projection.schema;
      if (!used || !all.every((c) => plainName(c.name))) continue;
      // A scan that projects nothing (count(*)) still needs the rows: the first column keeps them.
      const columns = all.filter((c) => used.has(c.name) || (used.size === 0 && c === all[0]));
      if (columns.length < all.length) projection.columns = columns.map((c) => c.name);
    }
    return result;
  } catch {
    // Unreadable input or schema, or SQL DuckDB cannot plan: every column, and the job says why.
    return new Map();
  } finally {
    conn.close();
    db.dropFiles();
  }
}
