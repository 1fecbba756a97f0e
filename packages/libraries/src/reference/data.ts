// data.query natively: DuckDB's own library through @duckdb/node-api, one in-memory database per
// call, one thread. The query is checked by DuckDB's parser (extract_statements and the prepared
// statement's type), the configuration locked as in the tab, and CSV and JSON lines built by the
// same SQL the tab runs (data-plan.ts), so both give the same bytes. Parquet is DuckDB's own
// (read_parquet, COPY ... (FORMAT parquet)). DuckDB's native library has no Arrow IPC reader or
// writer without the arrow extension, so Arrow goes through Parquet with parquet-wasm: an Arrow
// input is written as Parquet and read by read_parquet, an Arrow result is DuckDB's Parquet read
// back as Arrow. Arrow and Parquet equal the tab's value for value, not byte for byte (see
// docs/data.md and compare.ts).
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type DuckDBConnection, DuckDBInstance, StatementType } from '@duckdb/node-api';
import { LibraryError } from '../library-error.ts';
import type { DataOutputFormat } from '../methods/data.ts';
import type { CheckedCall } from '../registry.ts';
import { arrowToParquet, loadParquet, PARQUET_COMPRESSION, parquetToArrow } from '../runtime/data-parquet.ts';
import {
  arrowStreamOf,
  type Column,
  csvHeader,
  inputError,
  inputFormat,
  linesSql,
  namedColumns,
  queryError,
  sqlIdent,
  sqlString,
  tableNames,
  wrapped,
} from '../runtime/data-plan.ts';
import type { LibraryInput, LibraryResult } from '../runtime/runtime.ts';
import { installedFile } from './data-wasm-node.ts';

const CONTENT_TYPES: Readonly<Record<DataOutputFormat, string>> = {
  csv: 'text/csv',
  json: 'application/x-ndjson',
  arrow: 'application/vnd.apache.arrow.stream',
  parquet: 'application/vnd.apache.parquet',
};

/** An Arrow IPC input (stream or file) as Parquet, for read_parquet. */
function arrowAsParquet(bytes: Uint8Array): Uint8Array | string {
  const stream = arrowStreamOf(bytes);
  return typeof stream === 'string' ? stream : arrowToParquet(stream);
}

async function loadInputs(conn: DuckDBConnection, call: CheckedCall, inputs: LibraryInput[], dir: string) {
  const names = tableNames(inputs);
  const formats = (call.params.formats ?? {}) as Record<string, string>;
  for (const [i, input] of inputs.entries()) {
    const format = inputFormat(input, formats);
    const table = sqlIdent(names[i]!);
    const file = join(dir, `input_${i}.${format === 'arrow' ? 'parquet' : format}`);
    try {
      let bytes: Uint8Array | string = input.bytes;
      if (format === 'arrow') {
        await loadParquet({ file: installedFile });
        bytes = arrowAsParquet(input.bytes);
        if (typeof bytes === 'string')
          throw new LibraryError('INVALID_INPUT', `${input.name}: ${bytes}`, `inputs[${i}]`);
      }
      writeFileSync(file, bytes);
      const reader = { csv: 'read_csv', json: 'read_json', arrow: 'read_parquet', parquet: 'read_parquet' }[
        format
      ];
      await conn.run(`CREATE TABLE ${table} AS SELECT * FROM ${reader}(${sqlString(file)})`);
    } catch (err) {
      throw inputError(err, i, input.name);
    }
  }
}

/** DuckDB's parser says whether `sql` is one SELECT; returns it as given. */
async function checkQuery(conn: DuckDBConnection, sql: string): Promise<string> {
  let extracted: Awaited<ReturnType<DuckDBConnection['extractStatements']>>;
  try {
    extracted = await conn.extractStatements(sql);
  } catch (err) {
    throw queryError(err);
  }
  if (extracted.count !== 1)
    throw new LibraryError('FORBIDDEN', 'params.sql must be a single statement', 'params.sql');
  let prepared: Awaited<ReturnType<typeof extracted.prepare>>;
  try {
    prepared = await extracted.prepare(0);
  } catch (err) {
    const e = queryError(err);
    // DuckDB binds a COPY or an ATTACH while preparing it: refuse by what the statement is.
    if (/^\s*(copy|attach|install|load|set|pragma|export|import|detach|call|reset)\b/i.test(sql))
      throw new LibraryError('FORBIDDEN', `params.sql must be one SELECT query: ${e.message}`, 'params.sql');
    throw e;
  }
  if (prepared.statementType !== StatementType.SELECT)
    throw new LibraryError('FORBIDDEN', 'params.sql must be one SELECT query', 'params.sql');
  return sql.replace(/;\s*$/, '');
}

/**
 * DuckDB types whose Parquet form differs from the Arrow the tab writes, as the type that matches:
 * native DuckDB writes HUGEINT to Parquet as DOUBLE (rounding it) and UUID as 16 bytes, where
 * duckdb-wasm's Arrow has DECIMAL(38,0) and a string.
 */
const AS_TAB_WRITES: Readonly<Record<string, string>> = {
  HUGEINT: 'DECIMAL(38,0)',
  UHUGEINT: 'DECIMAL(38,0)',
  UUID: 'VARCHAR',
};

/** The result as Parquet, written by DuckDB into `out` (the one directory its configuration allows). */
async function parquetOf(conn: DuckDBConnection, sql: string, columns: Column[], out: string) {
  const file = join(out, 'result.parquet');
  const copied = await conn.runAndReadAll(
    `COPY (SELECT ${namedColumns(columns, (type) => AS_TAB_WRITES[type])} FROM ${wrapped(sql, columns.length)}) TO ${sqlString(file)} (FORMAT parquet, COMPRESSION ${PARQUET_COMPRESSION})`,
  );
  return { bytes: new Uint8Array(readFileSync(file)), rows: Number(copied.getRowsJS()[0]?.[0]) };
}

/**
 * data.query on native DuckDB. Throws LibraryError as the tab would. The caller's SQL runs here, on
 * the coordinator, so it is held to the library's limits as a tab holds it: DuckDB's memory_limit
 * is three quarters of the method's default WASM memory, and a statement still running at its
 * default time, or when `signal` aborts, is interrupted (LIBRARY_ERROR).
 */
export async function runDataReference(
  call: CheckedCall,
  inputs: LibraryInput[],
  signal?: AbortSignal,
): Promise<LibraryResult> {
  const format = call.params.format as DataOutputFormat;
  const { memoryPages, timeoutMs } = call.library.limits;
  const instance = await DuckDBInstance.create(':memory:', { threads: '1' });
  const conn = await instance.connect();
  const dir = mkdtempSync(join(tmpdir(), 'flock-data-'));
  const out = join(dir, 'out');
  mkdirSync(out);
  let stopped: string | undefined;
  let again: ReturnType<typeof setInterval> | undefined;
  const stop = (why: string) => {
    stopped ??= why;
    conn.interrupt();
    // An interrupt between two statements meets none: the next one is interrupted too.
    again ??= setInterval(() => conn.interrupt(), 20);
  };
  const timer = setTimeout(() => stop(`ran past the method's ${timeoutMs} ms limit`), timeoutMs);
  const onAbort = () => stop('was stopped by its caller');
  if (signal?.aborted) onAbort();
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    return await query(conn, call, inputs, { format, dir, out, memoryPages });
  } catch (err) {
    if (stopped) throw new LibraryError('LIBRARY_ERROR', `DuckDB ${stopped}`);
    throw err;
  } finally {
    clearTimeout(timer);
    clearInterval(again);
    signal?.removeEventListener('abort', onAbort);
    conn.closeSync();
    instance.closeSync();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function query(
  conn: DuckDBConnection,
  call: CheckedCall,
  inputs: LibraryInput[],
  {
    format,
    dir,
    out,
    memoryPages,
  }: { format: DataOutputFormat; dir: string; out: string; memoryPages: number },
): Promise<LibraryResult> {
  await loadInputs(conn, call, inputs, dir);
  if (format === 'arrow') await loadParquet({ file: installedFile });
  for (const setting of [
    // The reference's own COPY of a Parquet result writes there; the caller's SELECT cannot.
    `allowed_directories = [${sqlString(out)}]`,
    'autoinstall_known_extensions = false',
    'autoload_known_extensions = false',
    `memory_limit = '${Math.max(16, Math.floor((memoryPages * 65_536 * 0.75) / 2 ** 20))}MiB'`,
    'enable_external_access = false',
    'lock_configuration = true',
  ])
    await conn.run(`SET ${setting}`);
  const sql = await checkQuery(conn, call.params.sql as string);
  let columns: Column[];
  try {
    const described = await conn.runAndReadAll(`DESCRIBE SELECT * FROM (\n${sql}\n)`);
    columns = described
      .getRowObjectsJS()
      .map((r) => ({ name: String(r.column_name), type: String(r.column_type) }));
  } catch (err) {
    throw queryError(err);
  }
  let bytes: Uint8Array;
  let rows: number;
  try {
    if (format === 'arrow' || format === 'parquet') {
      ({ bytes, rows } = await parquetOf(conn, sql, columns, out));
      if (format === 'arrow') bytes = parquetToArrow(bytes);
    } else {
      const lines = (await conn.runAndReadAll(linesSql(sql, columns, format)))
        .getRowsJS()
        .map((r) => `${r[0] as string}\n`);
      const head = format === 'csv' ? csvHeader(columns) : '';
      bytes = new TextEncoder().encode(head + lines.join(''));
      rows = lines.length;
    }
  } catch (err) {
    throw queryError(err);
  }
  return {
    outputs: [{ name: `result.${format}`, contentType: CONTENT_TYPES[format], bytes }],
    summary: { rows: String(rows), columns: String(columns.length) },
  };
}
