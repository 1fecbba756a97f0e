// duckdb-wasm in Node: the package's Node blocking bundle runs the same WASM as the tab's browser
// blocking bundle (whose glue needs a browser: its bundled js-sha256 breaks under Node). Tests and the
// bench run data.query through runDataJob on it, the code path the tab runs.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { installedPackage } from '../node/package-files.ts';
import { type DuckDBWasm, runDataJob } from '../runtime/data-job.ts';
import type { LibraryRuntime } from '../runtime/runtime.ts';

const require = createRequire(import.meta.url);

interface NodeBlocking {
  createDuckDB(
    bundles: unknown,
    logger: unknown,
    runtime: unknown,
  ): Promise<DuckDBWasm & { instantiate(p: () => void): Promise<unknown> }>;
  VoidLogger: new () => unknown;
  NODE_RUNTIME: unknown;
}

/** Instantiates duckdb-wasm's EH build (Node has WebAssembly exceptions) from node_modules. */
export async function nodeDuckDBWasm(): Promise<DuckDBWasm> {
  const duckdb = require('@duckdb/duckdb-wasm/dist/duckdb-node-blocking.cjs') as NodeBlocking;
  const dist = join(require.resolve('@duckdb/duckdb-wasm/dist/duckdb-node-blocking.cjs'), '..');
  const bundle = (build: string) => ({
    mainModule: join(dist, `duckdb-${build}.wasm`),
    mainWorker: join(dist, `duckdb-node-${build}.worker.cjs`),
  });
  const db = await duckdb.createDuckDB(
    { mvp: bundle('mvp'), eh: bundle('eh') },
    new duckdb.VoidLogger(),
    duckdb.NODE_RUNTIME,
  );
  await db.instantiate(() => undefined);
  return db;
}

/**
 * A library file from the installed package, as the tab's `ctx.file` gives it (found on Node's
 * search paths: parquet-wasm's `exports` refuse `require.resolve('parquet-wasm/package.json')`).
 */
export async function installedFile(pkg: string, path: string): Promise<Uint8Array> {
  return new Uint8Array(readFileSync(join(installedPackage(pkg).dir, path)));
}

/**
 * The tab's data runtime with Node's blocking bundle in place of the browser's; library files
 * (parquet-wasm's WASM) come from the installed packages.
 */
export function nodeDataRuntime(): LibraryRuntime {
  let db: Promise<DuckDBWasm> | undefined;
  return {
    load: async () => {
      db = nodeDuckDBWasm();
      await db;
    },
    run: async (call, inputs, ctx) =>
      runDataJob(await (db ?? nodeDuckDBWasm()), call, inputs, { ...ctx, file: installedFile }),
  };
}
