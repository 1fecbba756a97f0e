// data.query's engine, duckdb-wasm (the tab's WASM, run in Node by the package's blocking Node
// bundle, one thread) against native DuckDB (@duckdb/node-api) with one thread and with its
// default threads, measured in the same run: one GROUP BY with SUM/AVG/COUNT over 10 million rows.
// The rows are a 10-million-row Parquet file that native DuckDB writes into the tmp dir (kept and
// reused while its size is the same). duckdb-wasm 1.32 cannot read Parquet offline (its parquet
// extension comes from the network), so each engine builds the same table with the same SQL, and
// the aggregate is timed on that table; native DuckDB is also timed straight off the Parquet file.
// Also: the cold load of duckdb-wasm (WASM compiled and instantiated) and the bytes of its files.
//
//   npx tsx bench/libraries/data.ts [--rows N (10000000)] [--runs R (3)]
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { LIBRARY_FILES } from '../../packages/libraries/src/index.ts';
import { nodeDuckDBWasm } from '../../packages/libraries/src/reference/data-wasm-node.ts';

const args = process.argv.slice(2);
const option = (name: string, fallback: number): number => {
  const i = args.indexOf(name);
  const value = i >= 0 ? Number(args[i + 1]) : fallback;
  if (!Number.isInteger(value) || value < 1) throw new Error(`bench: ${name} takes a positive integer`);
  return value;
};
const ROWS = option('--rows', 10_000_000);
const RUNS = option('--runs', 3);
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

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
  const { writeFileSync } = await import('node:fs');
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

async function main(): Promise<void> {
  const parquet = await parquetFile();
  const t0 = performance.now();
  const wasm = await nodeDuckDBWasm();
  const coldMs = performance.now() - t0;
  wasm.open({ maximumThreads: 1 });
  const conn = wasm.connect();
  conn.query(`CREATE TABLE t AS ${GENERATE}`);
  const one = await native('1', parquet);
  const all = await native(undefined, parquet);
  const s = { wasm: [] as number[], one: [] as number[], all: [] as number[], oneParquet: [] as number[] };
  let check = '';
  // Interleaved run by run, so that a busy machine slows all alike.
  for (let run = 0; run < RUNS; run++) {
    const t = performance.now();
    const rows = conn.query(QUERY).toArray();
    s.wasm.push((performance.now() - t) / 1000);
    const oneRun = await one.table();
    s.one.push(oneRun.s);
    s.all.push((await all.table()).s);
    s.oneParquet.push((await one.parquet()).s);
    check = `${rows.length} groups, wasm n[0]=${rows[0]?.toJSON().n} native n[0]=${oneRun.rows[0]?.[3]}`;
  }
  one.close();
  all.close();
  const dist = join(dirname(createRequire(import.meta.url).resolve('@duckdb/duckdb-wasm')), '..');
  const bytes = Object.fromEntries(
    LIBRARY_FILES.data.map((f) => [f.path, statSync(join(dist, f.path)).size]),
  );
  const ms = (x: number[]) => `${(median(x) * 1000).toFixed(0)} ms`;
  console.log(
    `data.query engine, ${ROWS} rows, GROUP BY k (1000 groups) with SUM/AVG/COUNT, median of ${RUNS}`,
  );
  console.log(`  check: ${check}`);
  console.log(`  duckdb-wasm (EH build, Node blocking bundle), 1 thread: ${ms(s.wasm)}`);
  console.log(
    `  native DuckDB, threads=1:            ${ms(s.one)}  (straight off Parquet: ${ms(s.oneParquet)})`,
  );
  console.log(`  native DuckDB, default threads:      ${ms(s.all)}`);
  console.log(
    `  wasm speed / native per core:        ${(median(s.one) / median(s.wasm)).toFixed(2)}x (target >= 0.5x)`,
  );
  console.log(`  wasm speed / native all threads:     ${(median(s.all) / median(s.wasm)).toFixed(2)}x`);
  console.log(`  cold load (compile + instantiate):   ${coldMs.toFixed(0)} ms`);
  for (const [path, size] of Object.entries(bytes))
    console.log(`  ${path}: ${(size / 2 ** 20).toFixed(1)} MiB`);
  console.log(`  Parquet file: ${parquet} (${(statSync(parquet).size / 2 ** 20).toFixed(0)} MiB)`);
}

await main();
