// data.* in the tab: duckdb-wasm's blocking browser bundle, run synchronously inside the executor
// Worker (no Worker of its own, no SharedArrayBuffer needed). Its glue and WASM come only through
// the RuntimeContext (hash-checked bytes), handed to duckdb-wasm as Blob URLs. The glue imports
// apache-arrow by its bare name, which a Blob URL module cannot resolve: that import is pointed at a
// Blob module re-exporting the page's own copy of apache-arrow (the same package duckdb-wasm
// depends on, bundled into this runtime's chunk). The glue cannot run under Node (its bundled
// js-sha256 breaks there): tests run the same jobs (data-job.ts) on the package's Node blocking
// bundle, which loads the same WASM builds.
import * as arrow from 'apache-arrow';
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

const ARROW_GLOBAL = '__flockApacheArrow';
const ARROW_IMPORT = 'from"apache-arrow"';

/** A module exporting every name of the page's apache-arrow, for the glue to import by URL. */
function arrowModuleUrl(): string {
  (globalThis as Record<string, unknown>)[ARROW_GLOBAL] = arrow;
  const names = Object.keys(arrow).filter((n) => n !== 'default' && /^[A-Za-z_$][\w$]*$/.test(n));
  const text = `const a = globalThis.${ARROW_GLOBAL};\nexport const { ${names.join(', ')} } = a;\n`;
  return blobUrl(new TextEncoder().encode(text), 'text/javascript');
}

/** The glue's code, its `import * as X from "apache-arrow"` pointed at `arrowUrl`. */
function glueWithArrow(bytes: Uint8Array, arrowUrl: string): Uint8Array {
  const code = new TextDecoder().decode(bytes);
  if (!code.includes(ARROW_IMPORT))
    throw new Error(`${DUCKDB_GLUE} no longer imports apache-arrow as expected`);
  return new TextEncoder().encode(code.replaceAll(ARROW_IMPORT, `from"${arrowUrl}"`));
}

async function loadDuckDB(ctx: RuntimeContext): Promise<DuckDBWasm> {
  const arrowUrl = arrowModuleUrl();
  const glueUrl = blobUrl(
    glueWithArrow(await ctx.file(DUCKDB_PACKAGE, DUCKDB_GLUE), arrowUrl),
    'text/javascript',
  );
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
    URL.revokeObjectURL(arrowUrl);
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
