// data.query: the tab's job code (data-job.ts) on duckdb-wasm's Node blocking bundle (the same WASM
// the tab runs) against native DuckDB (@duckdb/node-api), on inputs native DuckDB wrote.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { tableFromIPC } from 'apache-arrow';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { checkLibraryCall, LIBRARY_FILES, LibraryError } from '../src/index.ts';
import { installedPackage } from '../src/node/package-files.ts';
import { sameTable } from '../src/reference/data-compare.ts';
import { nodeDataRuntime } from '../src/reference/data-wasm-node.ts';
import { outputsAgree, runReference } from '../src/reference/index.ts';
import { inputFormat, singleQuery, tableNames } from '../src/runtime/data-plan.ts';
import { LibraryHost, type LibraryInput } from '../src/runtime/index.ts';
import { nodeContext } from './support/node-context.ts';

let loads = 0;
const host = new LibraryHost({
  data: async () => {
    const runtime = nodeDataRuntime();
    return {
      load: async (ctx) => {
        loads++;
        await runtime.load(ctx);
      },
      run: runtime.run,
    };
  },
});
const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
const input = (name: string, bytes: Uint8Array, contentType = ''): LibraryInput => ({
  name,
  contentType,
  bytes,
});

/**
 * Inputs written by native DuckDB: sales as CSV, customers as NDJSON, regions as a JSON array, and
 * as Parquet: events (most column types, with nulls) and customers again.
 */
let sales: LibraryInput;
let customers: LibraryInput;
let regions: LibraryInput;
let events: LibraryInput;
let customersParquet: LibraryInput;
const dir = mkdtempSync(join(tmpdir(), 'flock-data-test-'));

beforeAll(async () => {
  const db = await DuckDBInstance.create(':memory:');
  const conn = await db.connect();
  await conn.run(`COPY (SELECT i AS id, i % 7 AS customer, round(i * 1.25, 2) AS amount,
      DATE '2026-01-01' + (i % 30)::INTEGER AS day, CASE WHEN i % 5 = 0 THEN NULL ELSE 'note, "' || i || '"' END AS note
    FROM range(1, 2001) t(i)) TO '${dir}/sales.csv' (FORMAT csv, HEADER)`);
  await conn.run(`COPY (SELECT i AS customer, 'customer ' || i AS name, i % 3 AS region FROM range(7) t(i))
    TO '${dir}/customers.json' (FORMAT json)`);
  await conn.run(`COPY (SELECT i AS region, ['north', 'south', 'west'][i + 1] AS region_name FROM range(3) t(i))
    TO '${dir}/regions.json' (FORMAT json, ARRAY true)`);
  await conn.run(`COPY (SELECT i::INTEGER AS id, i * 1000003 AS big, i / 7 AS ratio, 'event ' || (i % 13) AS label,
      i % 2 = 0 AS even, DATE '2026-01-01' + (i % 365)::INTEGER AS day,
      TIMESTAMP '2026-01-01 00:00:00' + to_seconds(i * 37) AS ts,
      CASE WHEN i % 4 = 0 THEN NULL ELSE i % 7 END AS customer, CASE WHEN i % 9 = 0 THEN NULL ELSE 'x' || i END AS maybe
    FROM range(5000) t(i)) TO '${dir}/events.parquet' (FORMAT parquet, ROW_GROUP_SIZE 2048)`);
  await conn.run(
    `COPY (SELECT * FROM read_json('${dir}/customers.json')) TO '${dir}/customers.parquet' (FORMAT parquet)`,
  );
  conn.closeSync();
  db.closeSync();
  const read = (name: string) => new Uint8Array(readFileSync(join(dir, name)));
  sales = input('sales.csv', read('sales.csv'), 'text/csv');
  customers = input('customers.ndjson', read('customers.json'));
  regions = input('regions.json', read('regions.json'), 'application/json');
  events = input('events.parquet', read('events.parquet'));
  customersParquet = input('clients', read('customers.parquet'), 'application/vnd.apache.parquet');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function errorOf(run: () => Promise<unknown>): Promise<string> {
  try {
    await run();
  } catch (err) {
    if (err instanceof LibraryError) return `${err.code} ${err.field}`;
    throw err;
  }
  return 'no error';
}

const JOIN = `SELECT c.name, r.region_name, count(*) AS orders, sum(s.amount) AS total, avg(s.amount) AS mean,
    min(s.day) AS first_day, max(s.note) AS last_note
  FROM sales s JOIN customers c USING (customer) JOIN regions r USING (region)
  GROUP BY ALL ORDER BY c.name`;
const jobInputs = () => [sales, customers, regions];

describe('data.query against native DuckDB', () => {
  test('a cold load, then a warm job: CSV of a join across three inputs equals native DuckDB byte for byte', async () => {
    expect(host.warm()).toEqual([]);
    const ctx = nodeContext('data');
    const got = await host.run('data.query', { sql: JOIN }, jobInputs(), ctx);
    expect(host.warm()).toEqual(['data']);
    const want = await runReference('data.query', { sql: JOIN }, jobInputs());
    expect(got.outputs.map((o) => [o.name, o.contentType])).toEqual([['result.csv', 'text/csv']]);
    expect(text(got.outputs[0]!.bytes)).toBe(text(want.outputs[0]!.bytes));
    expect(got.summary).toEqual({ rows: '7', columns: '7' });
    expect(want.summary).toEqual(got.summary);
    const lines = text(got.outputs[0]!.bytes).split('\n');
    expect(lines[0]).toBe('name,region_name,orders,total,mean,first_day,last_note');
    expect(lines[1]).toBe('customer 0,north,285,356606.25,1251.25,2026-01-01,"note, ""994"""');
    expect(ctx.reports.at(-1)).toBe(100);
    const warm = await host.run('data.query', { sql: 'SELECT count(*) AS n FROM sales' }, [sales], ctx);
    expect(text(warm.outputs[0]!.bytes)).toBe('n\n2000\n');
    expect(loads).toBe(1);
  });

  test('CSV output is what DuckDB itself writes with COPY ... TO (FORMAT csv)', async () => {
    const sql = 'SELECT id, amount, day, note FROM sales WHERE id <= 40 ORDER BY id';
    const got = await host.run('data.query', { sql }, [sales], nodeContext('data'));
    const db = await DuckDBInstance.create(':memory:');
    const conn = await db.connect();
    await conn.run(`CREATE TABLE sales AS SELECT * FROM read_csv('${dir}/sales.csv')`);
    await conn.run(`COPY (${sql}) TO '${dir}/copy.csv' (FORMAT csv, HEADER)`);
    conn.closeSync();
    db.closeSync();
    expect(text(got.outputs[0]!.bytes)).toBe(readFileSync(join(dir, 'copy.csv'), 'utf8'));
  });

  test('JSON lines equal native DuckDB byte for byte, and parse to the values', async () => {
    const sql = `${JOIN.replace('ORDER BY c.name', '')} ORDER BY c.name DESC`;
    const got = await host.run('data.query', { sql, format: 'json' }, jobInputs(), nodeContext('data'));
    const want = await runReference('data.query', { sql, format: 'json' }, jobInputs());
    expect(got.outputs[0]!.name).toBe('result.json');
    expect(text(got.outputs[0]!.bytes)).toBe(text(want.outputs[0]!.bytes));
    const rows = text(got.outputs[0]!.bytes)
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(rows).toHaveLength(7);
    expect(rows[6]).toEqual({
      name: 'customer 0',
      region_name: 'north',
      orders: 285,
      total: 356606.25, // 1.25 * 7 * (1 + ... + 285)
      mean: 1251.25,
      first_day: '2026-01-01',
      last_note: 'note, "994"',
    });
    const odd = await host.run(
      'data.query',
      { sql: `SELECT 'a"b\\' || chr(10) || chr(1) AS s, NULL AS n, 1.0/0 AS inf, true AS t`, format: 'json' },
      [sales],
      nodeContext('data'),
    );
    expect(JSON.parse(text(odd.outputs[0]!.bytes))).toEqual({
      s: 'a"b\\\n\u0001',
      n: null,
      inf: null,
      t: true,
    });
  });

  test('Arrow IPC output holds the reference values, and reads back as an input', async () => {
    const sql = 'SELECT id, customer, amount, note FROM sales WHERE id % 100 = 0 ORDER BY id';
    const got = await host.run('data.query', { sql, format: 'arrow' }, [sales], nodeContext('data'));
    const want = await runReference('data.query', { sql, format: 'arrow' }, [sales]);
    expect(got.outputs[0]!.name).toBe('result.arrow');
    expect(got.summary).toEqual({ rows: '20', columns: '4' });
    const rows = (bytes: Uint8Array) =>
      tableFromIPC(bytes)
        .toArray()
        .map((r) => Object.values(r.toJSON()).map((v) => (typeof v === 'bigint' ? Number(v) : v)));
    expect(rows(got.outputs[0]!.bytes)).toEqual(rows(want.outputs[0]!.bytes));
    expect(rows(got.outputs[0]!.bytes)[0]).toEqual([100, 2, 125, null]);
    const back = [input('hundreds.arrow', got.outputs[0]!.bytes)];
    const again = 'SELECT sum(amount) AS total, count(note) AS notes FROM hundreds';
    const fromArrow = await host.run('data.query', { sql: again }, back, nodeContext('data'));
    expect(text(fromArrow.outputs[0]!.bytes)).toBe('total,notes\n26250.0,0\n');
    expect(text((await runReference('data.query', { sql: again }, back)).outputs[0]!.bytes)).toBe(
      text(fromArrow.outputs[0]!.bytes),
    );
  });
});

describe('Parquet (parquet-wasm in the tab, DuckDB natively)', () => {
  const TYPED = 'SELECT * FROM events WHERE id % 50 < 3 ORDER BY id';

  test('a Parquet input of many column types and nulls: the tab equals native DuckDB (CSV by bytes, Arrow by value)', async () => {
    const got = await host.run('data.query', { sql: TYPED }, [events], nodeContext('data'));
    const want = await runReference('data.query', { sql: TYPED }, [events]);
    expect(text(got.outputs[0]!.bytes)).toBe(text(want.outputs[0]!.bytes));
    expect(want.summary).toEqual({ rows: '300', columns: '9' });
    expect(got.summary).toEqual({
      ...want.summary,
      parquet_columns: 'events: id, big, ratio, label, even, day, ts, customer, maybe',
    });
    const lines = text(got.outputs[0]!.bytes).split('\n');
    expect(lines[0]).toBe('id,big,ratio,label,even,day,ts,customer,maybe');
    expect(lines[1]).toBe('0,0,0.0,event 0,true,2026-01-01,2026-01-01 00:00:00,,');
    expect(lines[3]).toBe('2,2000006,0.2857142857142857,event 2,true,2026-01-03,2026-01-01 00:01:14,2,x2');
    const types =
      'SELECT typeof(id), typeof(big), typeof(ratio), typeof(label), typeof(even), typeof(day), typeof(ts) FROM events LIMIT 1';
    const typed = await host.run('data.query', { sql: types }, [events], nodeContext('data'));
    expect(text(typed.outputs[0]!.bytes).split('\n')[1]).toBe(
      'INTEGER,BIGINT,DOUBLE,VARCHAR,BOOLEAN,DATE,TIMESTAMP',
    );
    const arrowGot = await host.run(
      'data.query',
      { sql: TYPED, format: 'arrow' },
      [events],
      nodeContext('data'),
    );
    const arrowWant = await runReference('data.query', { sql: TYPED, format: 'arrow' }, [events]);
    expect(await sameTable('result.arrow', arrowGot.outputs[0]!.bytes, arrowWant.outputs[0]!.bytes)).toBe(
      true,
    );
  });

  test('a join of a Parquet input (named by its content type) and a CSV input', async () => {
    const sql = `SELECT c.name, count(*) AS orders, sum(s.amount) AS total FROM sales s JOIN clients c USING (customer)
      GROUP BY ALL ORDER BY c.name`;
    const got = await host.run('data.query', { sql }, [sales, customersParquet], nodeContext('data'));
    const want = await runReference('data.query', { sql }, [sales, customersParquet]);
    expect(text(got.outputs[0]!.bytes)).toBe(text(want.outputs[0]!.bytes));
    expect(text(got.outputs[0]!.bytes).split('\n').slice(0, 2)).toEqual([
      'name,orders,total',
      'customer 0,285,356606.25',
    ]);
  });

  test('format parquet: zstd, and by value the reference (native DuckDB COPY ... (FORMAT parquet))', async () => {
    const sql = `SELECT label, count(*) AS n, sum(big) AS total, avg(ratio) AS mean, min(day) AS first, max(ts) AS last,
        count(maybe) AS present FROM events GROUP BY label ORDER BY label`;
    const got = await host.run('data.query', { sql, format: 'parquet' }, [events], nodeContext('data'));
    const want = await runReference('data.query', { sql, format: 'parquet' }, [events]);
    const [out] = got.outputs;
    expect([out!.name, out!.contentType]).toEqual(['result.parquet', 'application/vnd.apache.parquet']);
    expect(text(out!.bytes.subarray(0, 4))).toBe('PAR1');
    expect(want.summary).toEqual({ rows: '13', columns: '7' });
    expect(got.summary).toEqual({
      ...want.summary,
      parquet_columns: 'events: big, ratio, label, day, ts, maybe',
    });
    expect(Buffer.from(out!.bytes).equals(Buffer.from(want.outputs[0]!.bytes))).toBe(false);
    expect(await sameTable('result.parquet', out!.bytes, want.outputs[0]!.bytes)).toBe(true);
    expect(await outputsAgree('data.query', got.outputs, want.outputs)).toBe(true);
    // Native DuckDB reads the tab's file: the same rows as the query, every column chunk zstd.
    writeFileSync(join(dir, 'tab.parquet'), out!.bytes);
    const db = await DuckDBInstance.create(':memory:');
    const conn = await db.connect();
    await conn.run(`CREATE TABLE events AS SELECT * FROM '${dir}/events.parquet'`);
    const differ = await conn.runAndReadAll(
      `SELECT count(*) FROM ((FROM '${dir}/tab.parquet' EXCEPT ${sql.replace(/ ORDER BY label$/, '')}) UNION ALL
        (${sql.replace(/ ORDER BY label$/, '')} EXCEPT FROM '${dir}/tab.parquet'))`,
    );
    const codecs = await conn.runAndReadAll(
      `SELECT DISTINCT compression FROM parquet_metadata('${dir}/tab.parquet')`,
    );
    conn.closeSync();
    db.closeSync();
    expect(differ.getRowsJS()).toEqual([[0n]]);
    expect(codecs.getRowsJS()).toEqual([['ZSTD']]);
  });

  test('a truncated Parquet input is INVALID_INPUT on it, on both sides, and the next job runs', async () => {
    const whole = events.bytes;
    const cuts = [whole.subarray(0, whole.byteLength >> 1), whole.subarray(0, 7), whole.subarray(4)];
    for (const cut of cuts) {
      const bad = [sales, input('cut.parquet', cut)];
      expect(await errorOf(() => host.run('data.query', { sql: 'SELECT 1' }, bad, nodeContext('data')))).toBe(
        'INVALID_INPUT inputs[1]',
      );
      expect(await errorOf(() => runReference('data.query', { sql: 'SELECT 1' }, bad))).toBe(
        'INVALID_INPUT inputs[1]',
      );
    }
    const next = await host.run(
      'data.query',
      { sql: 'SELECT count(*) AS n FROM events' },
      [events],
      nodeContext('data'),
    );
    expect(text(next.outputs[0]!.bytes)).toBe('n\n5000\n');
  });
});

describe('what a query may not do', () => {
  const hostile: [string, string][] = [
    ["SELECT * FROM read_csv('/etc/passwd')", 'FORBIDDEN params.sql'],
    ["SELECT * FROM read_parquet('https://example.com/x.parquet')", 'FORBIDDEN params.sql'],
    ["SELECT * FROM read_csv('https://example.com/x.csv')", 'FORBIDDEN params.sql'],
    ["SELECT * FROM glob('/*')", 'FORBIDDEN params.sql'],
    ["COPY sales TO '/tmp/out.csv'", 'FORBIDDEN params.sql'],
    ["ATTACH '/tmp/x.db' AS x", 'FORBIDDEN params.sql'],
    ['INSTALL httpfs', 'FORBIDDEN params.sql'],
    ['LOAD httpfs', 'FORBIDDEN params.sql'],
    ['SET enable_external_access = true', 'FORBIDDEN params.sql'],
    ['PRAGMA threads = 4', 'FORBIDDEN params.sql'],
    ["EXPORT DATABASE '/tmp/dump'", 'FORBIDDEN params.sql'],
    ['DROP TABLE sales', 'FORBIDDEN params.sql'],
    ['SELECT 1; SELECT 2', 'FORBIDDEN params.sql'],
    ["SELECT 1; COPY sales TO '/tmp/x.csv'", 'FORBIDDEN params.sql'],
    ['SELEC 1', 'INVALID_PARAMS params.sql'],
    ['SELECT nope FROM sales', 'INVALID_PARAMS params.sql'],
    ['SELECT * FROM not_an_input', 'INVALID_PARAMS params.sql'],
  ];
  test.each(hostile)('%s -> %s, in the tab and the reference', async (sql, code) => {
    expect(await errorOf(() => host.run('data.query', { sql }, [sales], nodeContext('data')))).toBe(code);
    expect(await errorOf(() => runReference('data.query', { sql }, [sales]))).toBe(code);
  });

  test('a trailing semicolon and comments are one statement', async () => {
    const sql = 'SELECT count(*) AS n FROM sales; -- done';
    const got = await host.run('data.query', { sql }, [sales], nodeContext('data'));
    expect(text(got.outputs[0]!.bytes)).toBe('n\n2000\n');
  });

  test("one job's inputs never appear in the next, and a failed job leaves the runtime serving", async () => {
    const secret = input('secret.csv', new TextEncoder().encode('k\n42\n'));
    const first = await host.run(
      'data.query',
      { sql: 'SELECT k FROM secret' },
      [secret],
      nodeContext('data'),
    );
    expect(text(first.outputs[0]!.bytes)).toBe('k\n42\n');
    expect(
      await errorOf(() =>
        host.run('data.query', { sql: 'SELECT k FROM secret' }, [sales], nodeContext('data')),
      ),
    ).toBe('INVALID_PARAMS params.sql');
    const after = await host.run(
      'data.query',
      { sql: "SELECT current_setting('enable_external_access') AS x" },
      [sales],
      nodeContext('data'),
    );
    expect(text(after.outputs[0]!.bytes)).toBe('x\nfalse\n');
  });
});

describe('inputs, limits and stops', () => {
  test('malformed inputs are INVALID_INPUT naming the input', async () => {
    const ctx = () => nodeContext('data');
    const truncatedJson = input('bad.json', new TextEncoder().encode('[{"a": 1}, {"a": '));
    expect(
      await errorOf(() => host.run('data.query', { sql: 'SELECT 1' }, [sales, truncatedJson], ctx())),
    ).toBe('INVALID_INPUT inputs[1]');
    const arrow = await host.run(
      'data.query',
      { sql: 'SELECT * FROM sales', format: 'arrow' },
      [sales],
      ctx(),
    );
    const whole = arrow.outputs[0]!.bytes;
    const truncatedArrow = input('cut.arrow', whole.subarray(0, whole.byteLength >> 1));
    expect(await errorOf(() => host.run('data.query', { sql: 'SELECT 1' }, [truncatedArrow], ctx()))).toBe(
      'INVALID_INPUT inputs[0]',
    );
    const parquet = new Uint8Array([0x50, 0x41, 0x52, 0x31, 1, 2, 3]); // PAR1, then cut short
    expect(
      await errorOf(() => host.run('data.query', { sql: 'SELECT 1' }, [input('t.parquet', parquet)], ctx())),
    ).toBe('INVALID_INPUT inputs[0]');
    expect(
      await errorOf(() => runReference('data.query', { sql: 'SELECT 1' }, [input('t.parquet', parquet)])),
    ).toBe('INVALID_INPUT inputs[0]');
    const notParquet = input('t.dat', sales.bytes);
    expect(
      await errorOf(() =>
        host.run('data.query', { sql: 'SELECT 1', formats: { 't.dat': 'parquet' } }, [notParquet], ctx()),
      ),
    ).toBe('INVALID_INPUT inputs[0]');
  });

  test('a result past maxOutputBytes stops as it streams: OUTPUT_TOO_LARGE', async () => {
    for (const format of ['csv', 'json', 'arrow', 'parquet']) {
      const ctx = nodeContext('data', { maxOutputBytes: 1 << 20 });
      const started = performance.now();
      expect(
        await errorOf(() =>
          host.run(
            'data.query',
            { sql: 'SELECT range AS i FROM range(1000000000000)', format },
            [sales],
            ctx,
          ),
        ),
      ).toBe('OUTPUT_TOO_LARGE undefined');
      expect(performance.now() - started).toBeLessThan(20_000);
    }
  });

  test('a query past the job memory fails LIBRARY_ERROR (out of memory), and the next job runs', async () => {
    const ctx = nodeContext('data', { memoryPages: 512 }); // 32 MiB: DuckDB may use 24
    const sql = 'SELECT i, count(*) AS n FROM range(30000000) t(i) GROUP BY i ORDER BY n DESC, i LIMIT 1';
    const failed = host.run('data.query', { sql }, [sales], ctx);
    await expect(failed).rejects.toMatchObject({
      code: 'LIBRARY_ERROR',
      message: expect.stringMatching(/Out of Memory/i),
    });
    const next = await host.run(
      'data.query',
      { sql: "SELECT current_setting('memory_limit') AS m" },
      [sales],
      nodeContext('data'),
    );
    expect(text(next.outputs[0]!.bytes)).toBe('m\n1.5 GiB\n');
  });

  test('a stop requested while the inputs load ends the job, and the next job runs', async () => {
    const ctx = nodeContext('data');
    ctx.stop('cancelled');
    await expect(host.run('data.query', { sql: 'SELECT 1' }, [sales], ctx)).rejects.toThrow(
      'stopped: cancelled',
    );
    const next = await host.run('data.query', { sql: 'SELECT 1 AS one' }, [sales], nodeContext('data'));
    expect(text(next.outputs[0]!.bytes)).toBe('one\n1\n');
  });

  test('tables are named after the inputs; clashing names and bad params are refused by field', async () => {
    expect(
      tableNames([{ name: 'dir/2024 sales.v2.csv' }, { name: 'Orders.JSON' }, { name: '.csv' }]),
    ).toEqual(['_2024_sales_v2', 'Orders', '_csv']);
    const clash = [sales, input('SALES.json', regions.bytes)];
    expect(await errorOf(() => host.run('data.query', { sql: 'SELECT 1' }, clash, nodeContext('data')))).toBe(
      'INVALID_PARAMS inputs[1]',
    );
    expect(
      await errorOf(async () => checkLibraryCall('data.query', { sql: 'SELECT 1', format: 'xlsx' }, 1)),
    ).toBe('INVALID_PARAMS params.format');
    expect(await errorOf(async () => checkLibraryCall('data.query', {}, 1))).toBe(
      'INVALID_PARAMS params.sql',
    );
    expect(await errorOf(async () => checkLibraryCall('data.query', { sql: 'SELECT 1' }, 0))).toBe(
      'INPUT_COUNT inputs',
    );
  });

  test('formats come from params.formats, then the extension, the content type, the first bytes', () => {
    const b = (s: string) => new TextEncoder().encode(s);
    expect(inputFormat(input('x.dat', b('a,b')), { 'x.dat': 'json' })).toBe('json');
    expect(inputFormat(input('x.ndjson', b('')))).toBe('json');
    expect(inputFormat(input('x', b(''), 'application/vnd.apache.arrow.file'))).toBe('arrow');
    expect(inputFormat(input('x', b('PAR1....')))).toBe('parquet');
    expect(inputFormat(input('x', b('a,b'), 'application/vnd.apache.parquet'))).toBe('parquet');
    expect(inputFormat(input('x.bin', b('a,b')), { 'x.bin': 'parquet' })).toBe('parquet');
    expect(inputFormat(input('x', b('  [{"a":1}]')))).toBe('json');
    expect(inputFormat(input('x', b('a,b\n1,2')))).toBe('csv');
    expect(() => singleQuery('select 1', { offsets: [0, 7], types: [4, 1] })).not.toThrow();
  });

  test("LIBRARY_FILES.data lists duckdb-wasm's glue and both WASM builds, and parquet-wasm's WASM, all installed", () => {
    expect(LIBRARY_FILES.data.map((f) => `${f.package}/${f.path}`)).toEqual([
      '@duckdb/duckdb-wasm/dist/duckdb-browser-blocking.mjs',
      '@duckdb/duckdb-wasm/dist/duckdb-eh.wasm',
      '@duckdb/duckdb-wasm/dist/duckdb-mvp.wasm',
      'parquet-wasm/esm/parquet_wasm_bg.wasm',
    ]);
    for (const f of LIBRARY_FILES.data)
      expect(readFileSync(join(installedPackage(f.package).dir, f.path)).byteLength).toBeGreaterThan(1 << 20);
  });
});

describe('the reference runs on the coordinator, held to the tab’s limits', () => {
  test('DuckDB’s memory_limit is three quarters of the method’s WASM memory, as in the tab', async () => {
    const sql = "SELECT current_setting('memory_limit') AS m";
    const result = await runReference('data.query', { sql }, [sales]);
    expect(text(result.outputs[0]!.bytes)).toBe('m\n1.5 GiB\n');
  });

  test('a query the caller stops (a known answer past its budget) is interrupted: LIBRARY_ERROR at once', async () => {
    const stop = new AbortController();
    const sql = 'SELECT count(*) AS n FROM range(1000000000000)';
    const from = Date.now();
    setTimeout(() => stop.abort(), 300);
    const error = await runReference('data.query', { sql }, [sales], { signal: stop.signal }).catch((e) => e);
    expect(error).toBeInstanceOf(LibraryError);
    expect([error.code, error.message]).toEqual(['LIBRARY_ERROR', 'DuckDB was stopped by its caller']);
    expect(Date.now() - from).toBeLessThan(5_000);
    // The next call is served.
    expect(
      text((await runReference('data.query', { sql: 'SELECT 1 AS x' }, [sales])).outputs[0]!.bytes),
    ).toBe('x\n1\n');
  });
});
