// One data.query on a duckdb-wasm instance: the tab's runtime (the browser's blocking bundle) and
// the Node tests (the package's Node blocking bundle, the same WASM) both run jobs through here.
// Parquet goes through parquet-wasm (data-parquet.ts): decoded to Arrow IPC on the way in, encoded
// from DuckDB's Arrow IPC on the way out.
import { RecordBatchReader } from 'apache-arrow';
import { LibraryError } from '../library-error.ts';
import type { DataOutputFormat } from '../methods/data.ts';
import type { CheckedCall } from '../registry.ts';
import { arrowToParquet, loadParquet, parquetColumnsToArrow, parquetToArrow } from './data-parquet.ts';
import {
  arrowStreamOf,
  type Column,
  csvHeader,
  inputError,
  inputFormat,
  jsonArrayOf,
  linesSql,
  namedColumns,
  queryError,
  singleQuery,
  sqlIdent,
  sqlString,
  tableNames,
  wrapped,
} from './data-plan.ts';
import { type ParquetProjection, type ProjectionInput, projectParquet } from './data-projection.ts';
import type { LibraryInput, LibraryResult, RuntimeContext } from './runtime.ts';

/** The part of duckdb-wasm's DuckDBConnection a job uses. */
export interface WasmConnection {
  query(text: string): { toArray(): Array<{ toJSON(): Record<string, unknown> }> };
  send(text: string, allowStreamResult?: boolean): Promise<Iterable<WasmBatch>>;
  cancelSent(): boolean;
  useUnsafe<R>(callback: (bindings: unknown, conn: number) => R): R;
  insertArrowFromIPCStream(buffer: Uint8Array, options: { name: string }): void;
  insertJSONFromPath(path: string, options: { name: string }): void;
  close(): void;
}

/** A record batch of a streamed result (apache-arrow's RecordBatch, as far as a job reads it). */
export interface WasmBatch {
  getChildAt(index: number): Iterable<unknown> | null;
}

/** The part of duckdb-wasm's DuckDBBindings a job uses (the browser's and Node's blocking bundles). */
export interface DuckDBWasm {
  open(config: { maximumThreads?: number; query?: { castBigIntToDouble?: boolean } }): void;
  connect(): WasmConnection;
  tokenize(text: string): { offsets: number[]; types: number[] };
  registerFileBuffer(name: string, buffer: Uint8Array): void;
  dropFiles(names?: string[]): void;
  startPendingQuery(conn: number, text: string, allowStreamResult: boolean): Uint8Array | null;
  pollPendingQuery(conn: number): Uint8Array | null;
  fetchQueryResults(conn: number): Uint8Array | null;
  cancelPendingQuery(conn: number): boolean;
}

/** What a job uses of the RuntimeContext (`file`: parquet-wasm's WASM, for Parquet jobs only). */
export type JobContext = Pick<RuntimeContext, 'file' | 'progress' | 'stopRequested' | 'limits'>;

const CONTENT_TYPES: Readonly<Record<DataOutputFormat, string>> = {
  csv: 'text/csv',
  json: 'application/x-ndjson',
  arrow: 'application/vnd.apache.arrow.stream',
  parquet: 'application/vnd.apache.parquet',
};
/** Arrow IPC's end-of-stream marker (continuation, zero length). */
const ARROW_EOS = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]);

function checkStop(ctx: JobContext): void {
  const reason = ctx.stopRequested();
  if (reason) throw new LibraryError('LIBRARY_ERROR', `stopped: ${reason}`);
}

function tooLarge(bytes: number, ctx: JobContext): never {
  throw new LibraryError(
    'OUTPUT_TOO_LARGE',
    `the result passed the ${ctx.limits.maxOutputBytes}-byte limit (${bytes} bytes so far)`,
  );
}

/** An Arrow IPC stream (or file) as table `table`; a cut one is refused (duckdb-wasm would not say). */
function insertArrow(conn: WasmConnection, table: string, bytes: Uint8Array): string | undefined {
  const stream = arrowStreamOf(bytes);
  if (typeof stream === 'string') return stream;
  conn.insertArrowFromIPCStream(stream, { name: table });
  conn.query(`SELECT count(*) FROM ${sqlIdent(table)}`); // it was made
  return undefined;
}

/**
 * A Parquet input as table `table`. With a projection, only its columns are decoded, into a table of
 * their own; `table` is then a view with every column of the file in the file's order, the others
 * NULL of their type (the query binds as on the whole file; DuckDB's plan says it never reads them).
 * If that fails in any way, every column is decoded instead. Returns `table: the columns decoded`,
 * or why the input was refused.
 */
async function loadParquetInput(
  conn: WasmConnection,
  table: string,
  i: number,
  bytes: Uint8Array,
  projection: ParquetProjection | undefined,
): Promise<{ decoded: string } | { refused: string }> {
  const columns = projection?.columns;
  if (columns && projection) {
    const data = `flock parquet ${i}`;
    try {
      const refused = insertArrow(conn, data, await parquetColumnsToArrow(bytes, columns));
      if (refused === undefined && loadedColumns(conn, data).join('\n') === columns.join('\n')) {
        const select = projection.schema.map((c) =>
          columns.includes(c.name) ? sqlIdent(c.name) : `CAST(NULL AS ${c.type}) AS ${sqlIdent(c.name)}`,
        );
        conn.query(`CREATE VIEW ${sqlIdent(table)} AS SELECT ${select.join(', ')} FROM ${sqlIdent(data)}`);
        return { decoded: `${table}: ${columns.join(', ')}` };
      }
    } catch {
      // Decoded below with every column, which says what is wrong with the file, if anything.
    }
    conn.query(`DROP VIEW IF EXISTS ${sqlIdent(table)}`);
    conn.query(`DROP TABLE IF EXISTS ${sqlIdent(data)}`);
  }
  const refused = insertArrow(conn, table, parquetToArrow(bytes));
  return refused ? { refused } : { decoded: `${table}: ${loadedColumns(conn, table).join(', ')}` };
}

const loadedColumns = (conn: WasmConnection, table: string): string[] =>
  conn
    .query(`DESCRIBE ${sqlIdent(table)}`)
    .toArray()
    .map((row) => String(row.toJSON().column_name));

/**
 * Loads every input as its table; files are registered only for the load. Returns, for each Parquet
 * input, `table: its decoded columns`.
 */
async function loadInputs(
  db: DuckDBWasm,
  conn: WasmConnection,
  inputs: LibraryInput[],
  planned: ProjectionInput[],
  projections: ReadonlyMap<number, ParquetProjection>,
  ctx: JobContext,
): Promise<string[]> {
  const decoded: string[] = [];
  for (const [i, input] of inputs.entries()) {
    checkStop(ctx);
    const { table, format } = planned[i]!;
    const file = `input_${i}.${format}`;
    try {
      let refused: string | undefined;
      if (format === 'parquet') {
        const loaded = await loadParquetInput(conn, table, i, input.bytes, projections.get(i));
        if ('decoded' in loaded) decoded.push(loaded.decoded);
        else refused = loaded.refused;
      } else if (format === 'arrow') {
        // A copy: the input may be a view of shared memory, and DuckDB keeps the buffer it is given.
        refused = insertArrow(conn, table, new Uint8Array(input.bytes));
      } else if (format === 'json') {
        db.registerFileBuffer(file, jsonArrayOf(new Uint8Array(input.bytes)));
        conn.insertJSONFromPath(file, { name: table });
      } else {
        db.registerFileBuffer(file, new Uint8Array(input.bytes));
        conn.query(`CREATE TABLE ${sqlIdent(table)} AS SELECT * FROM read_csv(${sqlString(file)})`);
      }
      if (refused) throw new LibraryError('INVALID_INPUT', `${input.name}: ${refused}`, `inputs[${i}]`);
    } catch (err) {
      throw inputError(err, i, input.name);
    } finally {
      db.dropFiles();
    }
    ctx.progress(Math.round((40 * (i + 1)) / inputs.length));
  }
  return decoded;
}

/** From here on the caller's SQL can reach nothing but the tables: no files, no extensions, no settings. */
function lockDown(conn: Pick<WasmConnection, 'query'>, ctx: JobContext): void {
  // DuckDB's buffers stay within three quarters of the job's WASM memory (the rest: files, results).
  const mib = Math.max(16, Math.floor((ctx.limits.memoryPages * 65_536 * 0.75) / 2 ** 20));
  conn.query(`SET memory_limit = '${mib}MiB'`);
  conn.query('SET autoinstall_known_extensions = false');
  conn.query('SET autoload_known_extensions = false');
  conn.query('SET enable_external_access = false');
  conn.query('SET lock_configuration = true');
}

function describe(conn: WasmConnection, sql: string): Column[] {
  try {
    return conn
      .query(`DESCRIBE SELECT * FROM (\n${sql}\n)`)
      .toArray()
      .map((row) => {
        const r = row.toJSON();
        return { name: String(r.column_name), type: String(r.column_type) };
      });
  } catch (err) {
    throw queryError(err);
  }
}

/** CSV or JSON: one line per row, built by DuckDB, counted as it streams. */
async function writeLines(
  conn: WasmConnection,
  sql: string,
  columns: Column[],
  format: 'csv' | 'json',
  ctx: JobContext,
): Promise<{ bytes: Uint8Array; rows: number }> {
  const encoder = new TextEncoder();
  const parts: Uint8Array[] = format === 'csv' ? [encoder.encode(csvHeader(columns))] : [];
  let size = parts[0]?.byteLength ?? 0;
  let rows = 0;
  try {
    for (const batch of await conn.send(linesSql(sql, columns, format), true)) {
      const lines: string[] = [];
      for (const line of batch.getChildAt(0) ?? []) lines.push(`${line as string}\n`);
      const chunk = encoder.encode(lines.join(''));
      size += chunk.byteLength;
      rows += lines.length;
      if (size > ctx.limits.maxOutputBytes) tooLarge(size, ctx);
      parts.push(chunk);
      checkStop(ctx);
    }
  } catch (err) {
    conn.cancelSent();
    throw queryError(err);
  }
  return { bytes: concat(parts, size), rows };
}

/**
 * An ENUM is written as VARCHAR: duckdb-wasm's Arrow dictionary of one is misread by arrow-rs
 * (parquet-wasm), and native DuckDB's Parquet holds it as a string.
 */
const arrowCast = (type: string): string | undefined => (type.startsWith('ENUM(') ? 'VARCHAR' : undefined);

/** Arrow: DuckDB's own IPC stream, chunk by chunk, counted as it streams. */
function writeArrow(db: DuckDBWasm, conn: WasmConnection, sql: string, columns: Column[], ctx: JobContext) {
  const id = conn.useUnsafe((_, c) => c);
  const parts: Uint8Array[] = [];
  let size = 0;
  try {
    let chunk = db.startPendingQuery(
      id,
      `SELECT ${namedColumns(columns, arrowCast)} FROM ${wrapped(sql, columns.length)}`,
      true,
    );
    while (chunk === null) chunk = db.pollPendingQuery(id);
    while (chunk !== null && chunk.byteLength > 0) {
      size += chunk.byteLength;
      if (size > ctx.limits.maxOutputBytes) tooLarge(size, ctx);
      parts.push(chunk.slice());
      checkStop(ctx);
      chunk = db.fetchQueryResults(id);
    }
  } catch (err) {
    db.cancelPendingQuery(id);
    throw queryError(err);
  }
  parts.push(ARROW_EOS);
  return concat(parts, size + ARROW_EOS.byteLength);
}

/** The result's Arrow IPC stream as Parquet, within the output limit. */
function encodeParquet(stream: Uint8Array, ctx: JobContext): Uint8Array {
  checkStop(ctx);
  let bytes: Uint8Array;
  try {
    bytes = arrowToParquet(stream);
  } catch (err) {
    throw new LibraryError('LIBRARY_ERROR', `writing Parquet: ${(err as Error).message}`);
  }
  if (bytes.byteLength > ctx.limits.maxOutputBytes) tooLarge(bytes.byteLength, ctx);
  return bytes;
}

function concat(parts: Uint8Array[], size: number): Uint8Array {
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

/**
 * Runs one data.query on `db`, in a database of its own: it checks the SQL is one query, finds the
 * columns of each Parquet input the query reads (data-projection.ts, in a throwaway database), opens
 * a fresh in-memory database (so no table or setting of an earlier job remains), loads the inputs,
 * locks the configuration and writes the result. The summary's `parquet_columns` lists, for each
 * Parquet input, the columns decoded (`table: a, b; other: c`).
 */
export async function runDataJob(
  db: DuckDBWasm,
  call: CheckedCall,
  inputs: LibraryInput[],
  ctx: JobContext,
): Promise<LibraryResult> {
  const format = call.params.format as DataOutputFormat;
  const sql = singleQuery(call.params.sql as string, db.tokenize(call.params.sql as string));
  const names = tableNames(inputs);
  const formats = (call.params.formats ?? {}) as Record<string, string>;
  const planned = inputs.map((input, i) => ({
    table: names[i]!,
    format: inputFormat(input, formats),
    bytes: input.bytes,
  }));
  if (planned.some((p) => p.format === 'parquet')) await loadParquet(ctx);
  const projections = projectParquet(db, planned, sql, (c) => lockDown(c, ctx));
  db.open({ maximumThreads: 1, query: { castBigIntToDouble: false } });
  const conn = db.connect();
  try {
    const decoded = await loadInputs(db, conn, inputs, planned, projections, ctx);
    lockDown(conn, ctx);
    checkStop(ctx);
    const columns = describe(conn, sql);
    ctx.progress(50);
    let bytes: Uint8Array;
    let rows: number;
    if (format === 'arrow' || format === 'parquet') {
      if (format === 'parquet') await loadParquet(ctx);
      bytes = writeArrow(db, conn, sql, columns, ctx);
      rows = 0;
      for (const batch of RecordBatchReader.from(bytes)) rows += batch.numRows;
      if (format === 'parquet') bytes = encodeParquet(bytes, ctx);
    } else {
      ({ bytes, rows } = await writeLines(conn, sql, columns, format, ctx));
    }
    ctx.progress(100);
    return {
      outputs: [{ name: `result.${format}`, contentType: CONTENT_TYPES[format], bytes }],
      summary: {
        rows: String(rows),
        columns: String(columns.length),
        ...(decoded.length > 0 ? { parquet_columns: decoded.join('; ') } : {}),
      },
    };
  } finally {
    conn.close();
    db.dropFiles();
  }
}
