// Whether two table outputs of data.query (Arrow IPC or Parquet) hold the same table: decoded
// (Parquet by parquet-wasm to Arrow IPC, then apache-arrow), with the same column names, the same
// column types (normalized: how a writer happens to store a type does not count) and the same
// values row by row. The tab's writers (duckdb-wasm's Arrow, parquet-wasm's Parquet) and the
// reference's (native DuckDB's Parquet) encode one table differently, so bytes cannot be compared.
import { type DataType, type Field, type Table, Type, tableFromIPC } from 'apache-arrow';
import { loadParquet, parquetToArrow } from '../runtime/data-parquet.ts';
import { installedFile } from './data-wasm-node.ts';

/** Output names compared as tables. */
export const isTableOutput = (name: string): boolean => /\.(arrow|parquet)$/i.test(name);

async function decode(name: string, bytes: Uint8Array): Promise<Table> {
  if (!name.toLowerCase().endsWith('.parquet')) return tableFromIPC(bytes);
  await loadParquet({ file: installedFile });
  return tableFromIPC(parquetToArrow(bytes));
}

/**
 * A type as a string that ignores encoding choices: dictionary or plain, 32- or 64-bit offsets,
 * dates in days or milliseconds, a timestamp's unit and its UTC zone's spelling, list children's names.
 */
export function typeName(type: DataType): string {
  switch (type.typeId) {
    case Type.Dictionary:
      return typeName((type as unknown as { dictionary: DataType }).dictionary);
    case Type.Utf8:
    case Type.LargeUtf8:
      return 'utf8';
    case Type.Binary:
    case Type.LargeBinary:
      return 'binary';
    case Type.Date:
      return 'date';
    case Type.Timestamp: {
      // Its unit is the writer's choice (DuckDB's Parquet has no seconds); values are compared in ms.
      const { timezone } = type as unknown as { timezone?: string | null };
      const zone = timezone ? (/^(UTC|Z|[+-]00:?00)$/i.test(timezone) ? 'UTC' : timezone) : '';
      return `timestamp${zone ? `[${zone}]` : ''}`;
    }
    case Type.List:
    case Type.FixedSizeList:
      return `list<${typeName(type.children[0]!.type)}>`;
    case Type.Struct:
      return `struct<${type.children.map((f: Field) => `${f.name}: ${typeName(f.type)}`).join(', ')}>`;
    default:
      return String(type);
  }
}

/** A value as comparable text: bigints, dates, nested vectors and structs spelled out. */
function valueText(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (typeof v === 'bigint') return `${v}n`;
    if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
    if (v instanceof Date) return v.toISOString();
    if (ArrayBuffer.isView(v)) return Array.from(v as unknown as ArrayLike<unknown>, (x) => valueText(x));
    if (v !== null && typeof v === 'object' && 'toJSON' in v) return (v as { toJSON(): unknown }).toJSON();
    if (v !== null && typeof v === 'object' && Symbol.iterator in v) return [...(v as Iterable<unknown>)];
    return v;
  });
}

/** The columns (name and normalized type) and every row's values, of an Arrow table. */
function describeTable(table: Table): { columns: string[]; rows: number } {
  return {
    columns: table.schema.fields.map((f) => `${JSON.stringify(f.name)} ${typeName(f.type)}`),
    rows: table.numRows,
  };
}

/** True when the two outputs (named `name`: .arrow or .parquet) hold the same table. */
export async function sameTable(name: string, a: Uint8Array, b: Uint8Array): Promise<boolean> {
  const [x, y] = await Promise.all([decode(name, a), decode(name, b)]);
  const dx = describeTable(x);
  const dy = describeTable(y);
  if (dx.rows !== dy.rows || dx.columns.join('\n') !== dy.columns.join('\n')) return false;
  for (let c = 0; c < x.numCols; c++) {
    const cx = x.getChildAt(c)!;
    const cy = y.getChildAt(c)!;
    for (let r = 0; r < dx.rows; r++) if (valueText(cx.get(r)) !== valueText(cy.get(r))) return false;
  }
  return true;
}
