// data.*: SQL over the inputs with DuckDB (duckdb-wasm in the tab, native DuckDB as reference).
import type { MethodDefinition } from '../method.ts';

/** Input formats a `data.query` reads. */
export const DATA_INPUT_FORMATS = ['csv', 'json', 'arrow', 'parquet'] as const;
/** Output formats of `data.query`. */
export const DATA_OUTPUT_FORMATS = ['csv', 'json', 'arrow', 'parquet'] as const;

export type DataInputFormat = (typeof DATA_INPUT_FORMATS)[number];
export type DataOutputFormat = (typeof DATA_OUTPUT_FORMATS)[number];

export const DATA_METHODS: readonly MethodDefinition[] = [
  {
    library: 'data',
    method: 'query',
    doc: 'One SQL SELECT over the inputs, each loaded as a table named after its file (sales.csv -> sales)',
    params: {
      fields: {
        sql: {
          type: 'string',
          doc: 'one SELECT (or WITH ... SELECT) statement; ORDER BY it for a byte-exact result',
          maxLength: 100_000,
        },
        format: {
          type: 'enum',
          doc: 'the output: csv (with a header), json (one object per line), arrow (IPC stream) or parquet (zstd)',
          values: DATA_OUTPUT_FORMATS,
          default: 'csv',
        },
        formats: {
          type: 'map',
          doc: 'the format of an input by its name, where the extension and content type do not say',
          maxEntries: 64,
          values: { type: 'enum', doc: 'an input format', values: DATA_INPUT_FORMATS },
        },
      },
      required: ['sql'],
    },
    inputs: { min: 1, max: 64, doc: 'CSV, JSON (array or one object per line), Arrow IPC or Parquet files' },
    outputs:
      '`result.csv`, `result.json`, `result.arrow` or `result.parquet`; `rows` and `columns` in the summary',
    // Deterministic: one thread, the same WASM in every tab. Rows come in the query's order, so
    // requesters ORDER BY for results that two volunteers (and the reference) give byte for byte;
    // without ORDER BY a multi-input join's row order is DuckDB's and may differ between versions.
    // Arrow and Parquet are compared by value: the reference's writer is native DuckDB's, not the tab's.
    compare: { kind: 'values' },
  },
];
