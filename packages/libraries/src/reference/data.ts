// data.query natively: DuckDB's own library through @duckdb/node-api, one in-memory database per
// call, one thread. The query is checked by DuckDB's parser (extract_statements and the prepared
// statement's type), the configuration locked as in the tab, and CSV and JSON lines built by the
// same SQL the tab runs (data-plan.ts), so both give the same bytes. Arrow: DuckDB's native
// library has no IPC writer without the arrow extension, so the values are encoded with
// apache-arrow; they equal the tab's value for value, not byte for byte (see docs/data.md).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type DuckDBConnection, DuckDBInstance, StatementType } from '@duckdb/node-api';
import { Table, tableFromIPC, tableToIPC, vectorFromArray } from 'apache-arrow';
import { LibraryError } from '../library-error.ts';
import type { DataOutputFormat } from '../methods/data.ts';
import type { CheckedCall } from '../registry.ts';
import {
  type Column,
  csvHeader,
  inputError,
  inputFormat,
  linesSql,
  queryError,
  sqlIdent,
  sqlString,
  tableNames,
  wrapped,
} from '../runtime/data-plan.ts';
import type { LibraryInput, LibraryResult } from '../runtime/runtime.ts';

const CONTENT_TYPES: Readonly<Record<DataOutputFormat, string>> = {
  csv: 'text/csv',
  json: 'application/x-ndjson',
  arrow: 'application/vnd.apache.arrow.stream',
};

/** DuckDB's type for an Arrow type (anything else is read as VARCHAR). */
function duckType(arrowType: string): string {
  const t = arrowType.toLowerCase();
  const ints: Record<string, string> = {
    int8: 'TINYINT',
    int16: 'SMALLINT',
    int32: 'INTEGER',
    int64: 'BIGINT',
    uint8: 'UTINYINT',
    uint16: 'USMALLINT',
    uint32: 'UINTEGER',
    uint64: 'UBIGINT',
    float32: 'FLOAT',
    float64: 'DOUBLE',
    bool: 'BOOLEAN',
  };
  if (ints[t]) return ints[t];
  if (t.startsWith('date')) return 'DATE';
  if (t.startsWith('timestamp')) return 'TIMESTAMP';
  return 'VARCHAR';
}

/** An Arrow IPC input as NDJSON and the columns read_json should give it. */
function arrowAsJson(bytes: Uint8Array): { text: string; columns: string } {
  const table = tableFromIPC(bytes);
  const fields = table.schema.fields;
  const lines: string[] = [];
  for (const row of table) {
    const values = fields.map((f) => {
      const v = (row as unknown as Record<string, unknown>)[f.name];
      const text =
        typeof v === 'bigint'
          ? v.toString()
          : v instanceof Date
            ? JSON.stringify(v.toISOString())
            : JSON.stringify(v ?? null);
      return `${JSON.stringify(f.name)}:${text}`;
    });
    lines.push(`{${values.join(',')}}`);
  }
  const columns = fields
    .map((f) => `${sqlString(f.name)}: ${sqlString(duckType(String(f.type)))}`)
    .join(', ');
  return { text: lines.join('\n'), columns: `{${columns}}` };
}

async function loadInputs(conn: DuckDBConnection, call: CheckedCall, inputs: LibraryInput[], dir: string) {
  const names = tableNames(inputs);
  const formats = (call.params.formats ?? {}) as Record<string, string>;
  for (const [i, input] of inputs.entries()) {
    const format = inputFormat(input, formats);
    const table = sqlIdent(names[i]!);
    const file = join(dir, `input_${i}.${format}`);
    try {
      if (format === 'parquet') {
        throw new LibraryError(
          'INVALID_INPUT',
          `${input.name}: Parquet is not read (as in the tab)`,
          `inputs[${i}]`,
        );
      }
      if (format === 'arrow') {
        const { text, columns } = arrowAsJson(input.bytes);
        writeFileSync(file, text);
        await conn.run(
          `CREATE TABLE ${table} AS SELECT * FROM read_json(${sqlString(file)}, columns = ${columns})`,
        );
      } else {
        writeFileSync(file, input.bytes);
        const reader = format === 'json' ? 'read_json' : 'read_csv';
        await conn.run(`CREATE TABLE ${table} AS SELECT * FROM ${reader}(${sqlString(file)})`);
      }
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

async function arrowOf(
  conn: DuckDBConnection,
  sql: string,
  columns: Column[],
): Promise<{ bytes: Uint8Array; rows: number }> {
  const reader = await conn.runAndReadAll(`SELECT * FROM ${wrapped(sql, columns.length)}`);
  const rows = reader.getRowsJS();
  const arrays = Object.fromEntries(columns.map((c, i) => [c.name, vectorFromArray(rows.map((r) => r[i]))]));
  const table = new Table(arrays);
  return { bytes: tableToIPC(table, 'stream'), rows: rows.length };
}

/** data.query on native DuckDB. Throws LibraryError as the tab would. */
export async function runDataReference(call: CheckedCall, inputs: LibraryInput[]): Promise<LibraryResult> {
  const format = call.params.format as DataOutputFormat;
  const instance = await DuckDBInstance.create(':memory:', { threads: '1' });
  const conn = await instance.connect();
  const dir = mkdtempSync(join(tmpdir(), 'flock-data-'));
  try {
    await loadInputs(conn, call, inputs, dir);
    for (const setting of [
      'autoinstall_known_extensions = false',
      'autoload_known_extensions = false',
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
      if (format === 'arrow') ({ bytes, rows } = await arrowOf(conn, sql, columns));
      else {
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
  } finally {
    conn.closeSync();
    instance.closeSync();
    rmSync(dir, { recursive: true, force: true });
  }
}
