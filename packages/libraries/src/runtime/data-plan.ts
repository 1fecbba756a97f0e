// The pure half of data.query, shared by the tab's runtime (duckdb-wasm) and the Node reference
// (native DuckDB): input tables and formats, the SQL that wraps the caller's query, how results
// are written as CSV or JSON lines, and how DuckDB's errors become LibraryErrors.
import { LibraryError } from '../library-error.ts';
import type { DataInputFormat } from '../methods/data.ts';

export interface NamedInput {
  name: string;
  contentType: string;
  bytes: Uint8Array;
}

/** A column of the query's result: its name and DuckDB type (as DESCRIBE gives it). */
export interface Column {
  name: string;
  type: string;
}

/** The alias the caller's query is wrapped under; its columns are renamed c0, c1, ... by position. */
export const QUERY_ALIAS = 'flock_query';

/** A SQL string literal. */
export const sqlString = (s: string): string => `'${s.replaceAll("'", "''")}'`;
/** A SQL identifier, always quoted (a table named `select` is fine). */
export const sqlIdent = (s: string): string => `"${s.replaceAll('"', '""')}"`;

/**
 * The table an input is loaded as: its file name without directories and extension, with every
 * character outside [A-Za-z0-9_] made `_` (`2024 sales.v2.csv` -> `_2024_sales_v2`). Two inputs that
 * give the same name (DuckDB's names ignore case) are refused: INVALID_PARAMS on the second.
 */
export function tableNames(inputs: readonly Pick<NamedInput, 'name'>[]): string[] {
  const seen = new Map<string, number>();
  return inputs.map((input, i) => {
    const base = input.name.split(/[\\/]/).pop() ?? '';
    const dot = base.lastIndexOf('.');
    let name = (dot > 0 ? base.slice(0, dot) : base).replace(/[^A-Za-z0-9_]/g, '_').slice(0, 63);
    if (name === '') name = 'input';
    if (/^[0-9]/.test(name)) name = `_${name}`;
    const earlier = seen.get(name.toLowerCase());
    if (earlier !== undefined) {
      throw new LibraryError(
        'INVALID_PARAMS',
        `inputs ${earlier} and ${i} would both be table "${name}": rename one`,
        `inputs[${i}]`,
      );
    }
    seen.set(name.toLowerCase(), i);
    return name;
  });
}

const BY_EXTENSION: Readonly<Record<string, DataInputFormat>> = {
  csv: 'csv',
  tsv: 'csv',
  txt: 'csv',
  json: 'json',
  ndjson: 'json',
  jsonl: 'json',
  arrow: 'arrow',
  arrows: 'arrow',
  feather: 'arrow',
  ipc: 'arrow',
  parquet: 'parquet',
};

/**
 * An input's format: `params.formats[name]`, else its extension, else its content type, else its
 * first bytes (PAR1, an Arrow IPC header, `[` or `{`), else CSV.
 */
export function inputFormat(
  input: NamedInput,
  formats: Readonly<Record<string, string>> = {},
): DataInputFormat {
  const given = formats[input.name];
  if (given !== undefined) return given as DataInputFormat;
  const ext = input.name.includes('.') ? input.name.slice(input.name.lastIndexOf('.') + 1).toLowerCase() : '';
  const byExt = BY_EXTENSION[ext];
  if (byExt) return byExt;
  const type = input.contentType.toLowerCase();
  if (type.includes('parquet')) return 'parquet';
  if (type.includes('arrow')) return 'arrow';
  if (type.includes('json')) return 'json';
  if (type.includes('csv')) return 'csv';
  const b = input.bytes;
  if (b[0] === 0x50 && b[1] === 0x41 && b[2] === 0x52 && b[3] === 0x31) return 'parquet';
  if (startsWithArrowMagic(b) || (b[0] === 0xff && b[1] === 0xff && b[2] === 0xff && b[3] === 0xff))
    return 'arrow';
  const first = b.find((c) => c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09);
  if (first === 0x5b || first === 0x7b) return 'json';
  return 'csv';
}

const ARROW_MAGIC = [0x41, 0x52, 0x52, 0x4f, 0x57, 0x31]; // "ARROW1"
export const startsWithArrowMagic = (b: Uint8Array): boolean => ARROW_MAGIC.every((c, i) => b[i] === c);

/**
 * The Arrow IPC stream inside an input, or why it is not one: the file format ends with its magic
 * and holds the stream after its first 8 bytes; a stream ends with the end-of-stream marker. A cut
 * file misses either end (duckdb-wasm would load the batches before the cut without a word).
 */
export function arrowStreamOf(bytes: Uint8Array): Uint8Array | string {
  const n = bytes.byteLength;
  if (startsWithArrowMagic(bytes)) {
    const tail = bytes.subarray(n - 6);
    return ARROW_MAGIC.every((c, i) => tail[i] === c) && n >= 16
      ? bytes.subarray(8)
      : 'an Arrow IPC file cut short';
  }
  const end = bytes.subarray(n - 8);
  const eos =
    n >= 8 &&
    end[0] === 0xff &&
    end[1] === 0xff &&
    end[2] === 0xff &&
    end[3] === 0xff &&
    end.subarray(4).every((b) => b === 0);
  return eos ? bytes : 'an Arrow IPC stream without its end-of-stream marker (cut short?)';
}

/**
 * The bytes of a JSON input as one JSON array of objects: an array is kept, newline-delimited
 * objects (NDJSON) are joined into one.
 */
export function jsonArrayOf(bytes: Uint8Array): Uint8Array {
  const text = new TextDecoder().decode(bytes).trim();
  if (text.startsWith('[')) return bytes;
  const lines = text.split(/\r?\n/).filter((line) => line.trim() !== '');
  return new TextEncoder().encode(`[${lines.join(',\n')}]`);
}

/** Keywords a single query may start with (or `(`). */
const QUERY_STARTS = new Set(['select', 'with', 'from', 'values', 'table', 'pivot', 'unpivot']);

/**
 * Checks the caller's SQL, tokenized by DuckDB's own tokenizer, is one query: no second statement
 * after a `;`, and it starts as a SELECT does. Anything else (COPY, ATTACH, INSTALL, LOAD, SET,
 * PRAGMA, EXPORT, CREATE, ...) is FORBIDDEN. Returns the SQL without its trailing `;`.
 */
export function singleQuery(sql: string, tokens: { offsets: number[]; types: number[] }): string {
  const OPERATOR = 3;
  const KEYWORD = 4;
  const texts = tokens.offsets.map((start, i) =>
    sql.slice(start, tokens.offsets[i + 1] ?? sql.length).trim(),
  );
  const semi = texts.findIndex((t, i) => tokens.types[i] === OPERATOR && t.startsWith(';'));
  if (semi >= 0 && semi < texts.length - 1) {
    throw new LibraryError('FORBIDDEN', 'params.sql must be a single statement', 'params.sql');
  }
  const first = texts[0]?.toLowerCase() ?? '';
  if (tokens.types[0] !== KEYWORD && tokens.types[0] !== OPERATOR) {
    throw new LibraryError(
      'INVALID_PARAMS',
      `params.sql: syntax error at "${first.slice(0, 20)}"`,
      'params.sql',
    );
  }
  const startsQuery =
    (tokens.types[0] === KEYWORD && QUERY_STARTS.has(first)) ||
    (tokens.types[0] === OPERATOR && first.startsWith('('));
  if (!startsQuery) {
    throw new LibraryError(
      'FORBIDDEN',
      `params.sql must be one SELECT query (it starts with "${first.slice(0, 20) || 'nothing'}")`,
      'params.sql',
    );
  }
  return semi >= 0 ? sql.slice(0, tokens.offsets[semi]) : sql;
}

/**
 * The caller's columns under their own names, from the wrapped query; `cast` names the type a
 * column of a DuckDB type is written as (undefined: as it is).
 */
export const namedColumns = (
  columns: readonly Column[],
  cast: (type: string) => string | undefined = () => undefined,
): string =>
  columns
    .map((c, i) => {
      const to = cast(c.type);
      const ref = `${QUERY_ALIAS}.c${i}`;
      return `${to ? `CAST(${ref} AS ${to})` : ref} AS ${sqlIdent(c.name)}`;
    })
    .join(', ') || '*';

/** The caller's query as a subquery whose columns are c0, c1, ... (duplicate names cannot clash). */
export function wrapped(sql: string, columns: number): string {
  const names = Array.from({ length: columns }, (_, i) => `c${i}`).join(', ');
  // The newline ends a trailing `-- comment` before the closing parenthesis.
  return `(\n${sql}\n) AS ${QUERY_ALIAS}(${names})`;
}

const NUMERIC =
  /^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|UHUGEINT|DECIMAL.*)$/;
const FLOATING = /^(FLOAT|DOUBLE)$/;

/** A value as JSON text, in SQL (DuckDB's own formatting of numbers, dates and strings). */
function jsonValueSql(ref: string, type: string): string {
  if (type === 'BOOLEAN' || NUMERIC.test(type)) return `coalesce(CAST(${ref} AS VARCHAR), 'null')`;
  if (FLOATING.test(type)) return `CASE WHEN isfinite(${ref}) THEN CAST(${ref} AS VARCHAR) ELSE 'null' END`;
  let s = `replace(replace(CAST(${ref} AS VARCHAR), '\\', '\\\\'), '"', '\\"')`;
  for (let c = 0; c < 0x20; c++) {
    const escaped = ({ 8: '\\b', 9: '\\t', 10: '\\n', 12: '\\f', 13: '\\r' } as Record<number, string>)[c];
    s = `replace(${s}, chr(${c}), '${escaped ?? `\\u${c.toString(16).padStart(4, '0')}`}')`;
  }
  return `coalesce('"' || ${s} || '"', 'null')`;
}

/** A value as a CSV field, in SQL: NULL empty, quoted (with "" inside) when it holds , " CR or LF. */
function csvValueSql(ref: string, type: string): string {
  if (type === 'BOOLEAN' || NUMERIC.test(type) || FLOATING.test(type))
    return `coalesce(CAST(${ref} AS VARCHAR), '')`;
  const s = `CAST(${ref} AS VARCHAR)`;
  return `coalesce(CASE WHEN ${s} = '' OR regexp_matches(${s}, '[,"\\r\\n]') THEN '"' || replace(${s}, '"', '""') || '"' ELSE ${s} END, '')`;
}

/** A CSV field in JS (for the header), by the same rule as csvValueSql. */
export const csvField = (s: string): string =>
  s === '' || /[,"\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;

/** The header line of a CSV result (with its newline). */
export const csvHeader = (columns: readonly Column[]): string =>
  `${columns.map((c) => csvField(c.name)).join(',')}\n`;

/**
 * A SELECT giving one VARCHAR `line` per row of the caller's query: a CSV record or a JSON object
 * (keys in column order), without the newline. Both engines run it, so both write the same bytes.
 */
export function linesSql(sql: string, columns: readonly Column[], format: 'csv' | 'json'): string {
  if (columns.length === 0) return `SELECT '' AS line FROM ${wrapped(sql, 0)}`;
  const parts = columns.map((c, i) => {
    const ref = `${QUERY_ALIAS}.c${i}`;
    if (format === 'csv') return csvValueSql(ref, c.type);
    return `${sqlString(`${JSON.stringify(c.name)}:`)} || ${jsonValueSql(ref, c.type)}`;
  });
  const line = format === 'csv' ? parts.join(` || ',' || `) : `'{' || ${parts.join(` || ',' || `)} || '}'`;
  return `SELECT ${line} AS line FROM ${wrapped(sql, columns.length)}`;
}

/**
 * DuckDB's error (its message starts with the kind: `Parser Error: ...`) as a LibraryError:
 * reaching for files, the network or extensions is FORBIDDEN; a query DuckDB cannot parse or bind
 * is INVALID_PARAMS on params.sql; anything else is LIBRARY_ERROR, with DuckDB's message.
 */
export function queryError(err: unknown): LibraryError {
  if (err instanceof LibraryError) return err;
  const message = err instanceof Error ? err.message : String(err);
  if (
    /\b(Permission|Security) Error\b/.test(message) ||
    /disabled by configuration|configuration has been locked|exists in the \w+ extension|Extension/i.test(
      message,
    )
  )
    return new LibraryError('FORBIDDEN', message, 'params.sql');
  if (/\b(Parser|Syntax|Binder|Catalog|Not implemented) Error\b/.test(message))
    return new LibraryError('INVALID_PARAMS', message, 'params.sql');
  return new LibraryError('LIBRARY_ERROR', message);
}

/** A DuckDB error while loading input `i` (it is not the CSV, JSON or Arrow it claims to be). */
export function inputError(err: unknown, i: number, name: string): LibraryError {
  if (err instanceof LibraryError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new LibraryError('INVALID_INPUT', `${name}: ${message}`, `inputs[${i}]`);
}
