// The files of @duckdb/duckdb-wasm a tab fetches: the blocking browser glue (it runs DuckDB in the
// executor Worker itself, no Worker of its own) and one of the two WASM builds.
import type { LibraryFile } from '../files.ts';

export const DUCKDB_PACKAGE = '@duckdb/duckdb-wasm';
export const DUCKDB_GLUE = 'dist/duckdb-browser-blocking.mjs';
/** With WebAssembly exception handling (Chromium 95+, Firefox 100+, Safari 15.2+). */
export const DUCKDB_EH_WASM = 'dist/duckdb-eh.wasm';
/** Without it (older engines). */
export const DUCKDB_MVP_WASM = 'dist/duckdb-mvp.wasm';

export const DUCKDB_FILES: readonly LibraryFile[] = [
  { package: DUCKDB_PACKAGE, path: DUCKDB_GLUE },
  { package: DUCKDB_PACKAGE, path: DUCKDB_EH_WASM },
  { package: DUCKDB_PACKAGE, path: DUCKDB_MVP_WASM },
];

/**
 * parquet-wasm (arrow-rs's Parquet reader and writer in WASM): duckdb-wasm's own Parquet reader is an
 * extension it fetches from the network at run time. Its JS glue is bundled into the runtime; the
 * tab fetches only the WASM, on the first job that reads or writes Parquet.
 */
export const PARQUET_PACKAGE = 'parquet-wasm';
export const PARQUET_WASM = 'esm/parquet_wasm_bg.wasm';

export const PARQUET_FILES: readonly LibraryFile[] = [{ package: PARQUET_PACKAGE, path: PARQUET_WASM }];
