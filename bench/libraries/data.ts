// data.query over a 10-million-row Parquet file: the tab's whole path (DuckDB's plan picks the
// columns, parquet-wasm decodes those to Arrow IPC, duckdb-wasm loads them and runs the GROUP BY, one
// thread: data-job.ts on the package's Node blocking bundle, the same WASM the tab runs) against native DuckDB (@duckdb/node-api) querying
// the same file with read_parquet, with one thread and with its default threads, measured in the
// same run. Also the engine alone (the aggregate on a table already loaded, both sides), the cold
// load of duckdb-wasm and of parquet-wasm, and the bytes of the data library's files. The Parquet
// file is written by native DuckDB into the tmp dir (kept and reused while its size is the same).
//
//   npx tsx bench/libraries/data.ts [--rows N (10000000)] [--runs R (3)]
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { checkLibraryCall, LIBRARIES, LIBRARY_FILES } from '../../packages/libraries/src/index.ts';
import { installedPackage } from '../../packages/libraries/src/node/package-files.ts';
import { installedFile, nodeDuckDBWasm } from '../../packages/libraries/src/reference/data-wasm-node.ts';
import { type DuckDBWasm, runDataJob } from '../../packages/libraries/src/runtime/data-job.ts';
import {
  loadParquet,
  parquetColumnsToArrow,
  parquetToArrow,
} from '../../packages/libraries/src/runtime/data-parquet.ts';
import { intOption, median } from './options.ts';

const ROWS = intOption('--rows', 10_000_000);
const RUNS = intOption('--runs', 3);

/** The rows: deterministic, so both engines build the same table. */
const GENERATE = `SELECT range AS id, (range * 7919) % 1000 AS k, ((range * 104729) % 100000) / 100.0 AS v,
  'tag-' || (range % 37) AS tag FROM range(${ROWS})`;
const QUERY = 'SELECT k, sum(v) AS total, avg(v) AS mean, count(*) AS n FROM t GROUP BY k ORDER BY k';

async function parquetFile(): Promise<string> {
  const dir = join(tmpdir(), 'flock-bench-data');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `rows-${ROWS}.parquet`);
  const sizeFile = `${file}.size`;
  if (
    existsSync(file) &&
    existsSync(sizeFile) &&
    readFileSync(sizeFile, 'utf8') === String(statSync(file).size)
  )
    return file;
  const db = await DuckDBInstance.create(':memory:');
  const conn = await db.connect();
  await conn.run(`COPY (${GENERATE}) TO '${file}' (FORMAT parquet)`);
  conn.closeSync();
  db.closeSync();
  writeFileSync(sizeFile, String(statSync(file).size));
  return file;
}

async function native(threads: string | undefined, parquet: string) {
  const db = await DuckDBInstance.create(':memory:', threads ? { threads } : {});
  const conn = await db.connect();
  await conn.run(`CREATE TABLE t AS ${GENERATE}`);
  const time = async (sql: string) => {
    const t = performance.now();
    const rows = (await conn.runAndReadAll(sql)).getRowsJS();
    return { s: (performance.now() - t) / 1000, rows };
  };
  return {
    table: () => time(QUERY),
    parquet: () => time(QUERY.replace('FROM t', `FROM read_parquet('${parquet}')`)),
    close: () => {
      conn.closeSync();
      db.closeSync();
    },
  };
}

/** The tab's job on the Parquet file: decode, load, query, write the CSV of 1000 groups. */
async function tabJob(wasm: DuckDBWasm, bytes: Uint8Array) {
  const call = checkLibraryCall('data.query', { sql: QUERY }, 1);
  const ctx = {
    file: installedFile,
    progress: () => undefined,
    stopRequested: () => undefined,
    limits: LIBRARIES.data.limits,
  };
  const t = performance.now();
  const result = await runDataJob(wasm, call, [{ name: 't.parquet', contentType: '', bytes }], ctx);
  const csv = new TextDecoder().decode(result.outputs[0]!.bytes).split('\n');
  return {
    s: (performance.now() - t) / 1000,
    n0: csv[1]?.split(',')[3],
    columns: result.summary?.parquet_columns,
  };
}

/** The engine alone: duckdb-wasm's aggregate over a table it already holds. */
function wasmTable(wasm: DuckDBWasm): () => number {
  wasm.open({ maximumThreads: 1 });
  const conn = wasm.connect();
  conn.query(`CREATE TABLE t AS ${GENERATE}`);
  return () => {
    const t = performance.now();
    conn.query(QUERY).toArray();
    return (performance.now() - t) / 1000;
  };
}

async function main(): Promise<void> {
  const parquet = await parquetFile();
  const bytes = new Uint8Array(readFileSync(parquet));
  let t0 = performance.now();
  const wasm = await nodeDuckDBWasm();
  const coldDuckMs = performance.now() - t0;
  t0 = performance.now();
  await loadParquet({ file: installedFile });
  const coldParquetMs = performance.now() - t0;
  const one = await native('1', parquet);
  const all = await native(undefined, parquet);
  const s = {
    tab: [] as number[],
    decode: [] as number[],
    decodeAll: [] as number[],
    one: [] as number[],
    all: [] as number[],
  };
  let parquetColumns = '';
  let check = '';
  // Interleaved run by run, so that a busy machine slows all alike.
  for (let run = 0; run < RUNS; run++) {
    const tab = await tabJob(wasm, bytes);
    s.tab.push(tab.s);
    parquetColumns = tab.columns ?? '';
    const t = performance.now();
    await parquetColumnsToArrow(bytes, ['k', 'v']);
    s.decode.push((performance.now() - t) / 1000);
    const oneRun = await one.parquet();
    s.one.push(oneRun.s);
    s.all.push((await all.parquet()).s);
    check = `tab n[0]=${tab.n0} native n[0]=${oneRun.rows[0]?.[3]}`;
  }
  // Apart, after: its 326 MiB of Arrow would leave the next run's tab job collecting garbage.
  for (let run = 0; run < RUNS; run++) {
    const t = performance.now();
    parquetToArrow(bytes);
    s.decodeAll.push((performance.now() - t) / 1000);
  }
  const engine = { wasm: [] as number[], one: [] as number[], all: [] as number[] };
  const wasmQuery = wasmTable(wasm);
  for (let run = 0; run < RUNS; run++) {
    engine.wasm.push(wasmQuery());
    engine.one.push((await one.table()).s);
    engine.all.push((await all.table()).s);
  }
  one.close();
  all.close();
  const ms = (x: number[]) => `${(median(x) * 1000).toFixed(0)} ms`;
  const ratio = (native: number[], wasm: number[]) => `${(median(native) / median(wasm)).toFixed(2)}x`;
  const mib = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`;
  console.log(`data.query, ${ROWS} rows, GROUP BY k (1000 groups) with SUM/AVG/COUNT, median of ${RUNS}`);
  console.log(`  Parquet file: ${parquet} (${mib(bytes.byteLength)}), ${check}`);
  console.log(
    `  tab's whole path (plan, parquet-wasm decode of ${parquetColumns}, duckdb-wasm load + query), 1 thread: ${ms(s.tab)}`,
  );
  console.log(`    of which parquet-wasm decode of k, v to Arrow IPC:  ${ms(s.decode)}`);
  console.log(`    (parquet-wasm decode of every column, as before projection: ${ms(s.decodeAll)})`);
  console.log(`  native DuckDB read_parquet, threads=1:      ${ms(s.one)}`);
  console.log(`  native DuckDB read_parquet, default threads: ${ms(s.all)}`);
  console.log(`  tab speed / native per core:  ${ratio(s.one, s.tab)} (target >= 0.5x)`);
  console.log(`  tab speed / native all threads: ${ratio(s.all, s.tab)}`);
  console.log(
    `  engine alone (table loaded): duckdb-wasm ${ms(engine.wasm)}, native threads=1 ${ms(engine.one)} (${ratio(engine.one, engine.wasm)}), default threads ${ms(engine.all)} (${ratio(engine.all, engine.wasm)})`,
  );
  console.log(
    `  cold load: duckdb-wasm ${coldDuckMs.toFixed(0)} ms, parquet-wasm ${coldParquetMs.toFixed(0)} ms`,
  );
  for (const f of LIBRARY_FILES.data)
    console.log(
      `  ${f.package}/${f.path}: ${mib(statSync(join(installedPackage(f.package).dir, f.path)).size)}`,
    );
}

await main();
