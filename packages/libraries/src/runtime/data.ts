// data.* in the tab: duckdb-wasm's blocking browser bundle, run synchronously inside the executor
// Worker (no Worker of its own, no SharedArrayBuffer needed). Its glue and WASM come only through
// the RuntimeContext (hash-checked bytes), handed to duckdb-wasm as Blob URLs. The glue cannot run
// under Node (its bundled js-sha256 breaks there): tests run the same jobs (data-job.ts) on the
// package's Node blocking bundle, which loads the same WASM builds.
import { LibraryError } from '../library-error.ts';
import { DUCKDB_EH_WASM, DUCKDB_GLUE, DUCKDB_MVP_WASM, DUCKDB_PACKAGE } from './data-files.ts';
import { type DuckDBWasm, runDataJob } from './data-job.ts';
import type { LibraryRuntime, RuntimeContext } from './runtime.ts';

interface DuckDBBuild {
  mainModule: string;
  mainWorker: string;
}

/** What the blocking browser bundle exports, as far as the runtime uses it. */
interface BrowserBlocking {
  createDuckDB(
    bundles: { mvp: DuckDBBuild; eh?: DuckDBBuild },
    logger: unknown,
    runtime: unknown,
  ): Promise<DuckDBWasm & { instantiate(progress: () => void): Promise<unknown> }>;
  getPlatformFeatures(): Promise<{ wasmExceptions: boolean }>;
  VoidLogger: new () => unknown;
  BROWSER_RUNTIME: unknown;
}

const blobUrl = (bytes: Uint8Array, type: string): string =>
  URL.createObjectURL(new Blob([bytes as Uint8Array<ArrayBuffer>], { type }));

async function loadDuckDB(ctx: RuntimeContext): Promise<DuckDBWasm> {
  const glueUrl = blobUrl(await ctx.file(DUCKDB_PACKAGE, DUCKDB_GLUE), 'text/javascript');
  let wasmUrl: string | undefined;
  try {
    const duckdb = (await import(/* @vite-ignore */ glueUrl)) as BrowserBlocking;
    // The glue has one emscripten module per build and takes "eh" when the engine has WebAssembly
    // exceptions (Chromium 95+): ask it, and fetch only that build's WASM.
    const eh = (await duckdb.getPlatformFeatures()).wasmExceptions;
    wasmUrl = blobUrl(
      await ctx.file(DUCKDB_PACKAGE, eh ? DUCKDB_EH_WASM : DUCKDB_MVP_WASM),
      'application/wasm',
    );
    const build = { mainModule: wasmUrl, mainWorker: '' };
    const db = await duckdb.createDuckDB(
      eh ? { mvp: build, eh: build } : { mvp: build },
      new duckdb.VoidLogger(),
      duckdb.BROWSER_RUNTIME,
    );
    await db.instantiate(() => undefined);
    return db;
  } finally {
    URL.revokeObjectURL(glueUrl);
    if (wasmUrl) URL.revokeObjectURL(wasmUrl);
  }
}

let db: Promise<DuckDBWasm> | undefined;

export const dataRuntime: LibraryRuntime = {
  load: async (ctx) => {
    db = loadDuckDB(ctx);
    await db.catch((err: unknown) => {
      db = undefined;
      throw new LibraryError(
        'LIBRARY_LOAD_FAILED',
        `duckdb-wasm could not be loaded: ${(err as Error).message}`,
      );
    });
  },
  run: async (call, inputs, ctx) => {
    if (!db) throw new LibraryError('LIBRARY_LOAD_FAILED', 'duckdb-wasm is not loaded');
    return runDataJob(await db, call, inputs, ctx);
  },
};
