// data.query (#15) in real Chromium against a real coordinator: the tab's executor loads
// duckdb-wasm's blocking browser bundle (its glue imported from a Blob URL of hash-checked bytes,
// the EH build's WASM compiled from checked bytes) and runs DuckDB inside the executor Worker. The
// inputs are written by native DuckDB (the Node reference's library); CSV and JSON results equal
// the reference byte for byte, Arrow and Parquet value for value (the method's `values` rule). The
// first job loads the library (cold: the glue and the EH build fetched), the second finds it warm;
// parquet-wasm's WASM is fetched by the first job with Parquet, not before. SQL that reaches for a
// file fails FORBIDDEN, not retried, and the tab serves the next job.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { getMethod } from '@flock/libraries';
import { libraryManifest } from '@flock/libraries/node';
import { outputsAgree, runReference } from '@flock/libraries/reference';
import { type Browser, expect, type Page, test } from '@playwright/test';
import { tableFromIPC } from 'apache-arrow';
import { launchChromium } from '../support/chromium.ts';
import { openVolunteerTab } from '../support/volunteer-tab.ts';
import { Harness, libraryTask, taskId } from './volunteer-harness.ts';

test.describe.configure({ mode: 'serial' });

interface Input {
  name: string;
  contentType: string;
  bytes: Uint8Array;
}

let harness: Harness;
let browser: Browser;
let page: Page;
let inputs: Input[];
/** Orders as CSV and customers as Parquet. */
let parquetInputs: Input[];
/** The URLs of parquet-wasm's files the page (or its Workers) requested. */
const parquetRequests: string[] = [];

/** Orders as CSV, customers as NDJSON and as Parquet, written by native DuckDB. */
async function dataInputs(): Promise<Input[]> {
  const dir = mkdtempSync(join(tmpdir(), 'flock-e2e-data-'));
  try {
    const db = await DuckDBInstance.create(':memory:');
    const conn = await db.connect();
    await conn.run(`COPY (SELECT i AS id, i % 5 AS customer, round(i * 0.75, 2) AS amount,
        CASE WHEN i % 4 = 0 THEN NULL ELSE 'n, "' || i || '"' END AS note FROM range(1, 501) t(i))
      TO '${dir}/orders.csv' (FORMAT csv, HEADER)`);
    await conn.run(`COPY (SELECT i AS customer, 'customer ' || i AS name FROM range(5) t(i))
      TO '${dir}/customers.json' (FORMAT json)`);
    await conn.run(`COPY (SELECT i AS customer, 'customer ' || i AS name, DATE '2026-12-01' + i::INTEGER AS since,
        CASE WHEN i = 3 THEN NULL ELSE i * 2.5 END AS credit FROM range(5) t(i))
      TO '${dir}/customers.parquet' (FORMAT parquet)`);
    conn.closeSync();
    db.closeSync();
    const read = (name: string) => new Uint8Array(readFileSync(join(dir, name)));
    return [
      { name: 'orders.csv', contentType: 'text/csv', bytes: read('orders.csv') },
      { name: 'customers.ndjson', contentType: 'application/x-ndjson', bytes: read('customers.json') },
      {
        name: 'customers.parquet',
        contentType: 'application/vnd.apache.parquet',
        bytes: read('customers.parquet'),
      },
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test.beforeAll(async () => {
  const all = await dataInputs();
  inputs = all.slice(0, 2);
  parquetInputs = [all[0]!, all[2]!];
  harness = await Harness.start();
  browser = await launchChromium({ webgpu: false });
  page = (await openVolunteerTab(browser, `${harness.url}/`)).page;
  page.context().on('request', (request) => {
    if (request.url().includes('/v1/libs/parquet-wasm@')) parquetRequests.push(request.url());
  });
});

test.afterAll(async () => {
  await browser?.close();
  await harness?.close();
});

/** Polls a task until it succeeds or fails (a failure's view says why at once). */
async function settled(id: string) {
  let view = await harness.task(id);
  await expect
    .poll(
      async () => {
        view = await harness.task(id);
        return view.state === 'succeeded' || view.state === 'failed';
      },
      { timeout: 60_000, message: `task ${id} to settle` },
    )
    .toBe(true);
  return view;
}

/** Runs data.query in the tab; returns its result, its one output and the reference's. */
async function query(params: { sql: string; format?: string }, files = inputs) {
  const id = taskId('data-query');
  await harness.submit(libraryTask(id, 'data.query', params, files));
  const view = await settled(id);
  expect(view.state, JSON.stringify(view.failure)).toBe('succeeded');
  expect(view.executor).toBe('library:data');
  const result = await harness.result(id);
  const reference = await runReference('data.query', params, files);
  // parquet_columns (the Parquet columns the tab decoded) is the tab's own: native DuckDB reads the file.
  const { parquet_columns: _decoded, ...summary } = result.summary ?? {};
  expect(summary).toEqual(reference.summary);
  const want = reference.outputs[0]!;
  expect(result.outputs?.map((o) => o.name)).toEqual([want.name]);
  return { result, got: await harness.output(result, want.name), want: want.bytes };
}

const JOIN = `SELECT c.name, count(*) AS orders, sum(o.amount) AS total, max(o.note) AS last_note
  FROM orders o JOIN customers c USING (customer) GROUP BY ALL ORDER BY c.name`;

test('data.query CSV and JSON equal native DuckDB byte for byte; cold first (files fetched), warm second', async () => {
  expect(getMethod('data.query').compare).toEqual({ kind: 'values' });
  const csv = await query({ sql: JOIN });
  expect(Buffer.from(csv.got).equals(Buffer.from(csv.want))).toBe(true);
  expect(new TextDecoder().decode(csv.got).split('\n')[1]).toBe('customer 0,100,18937.5,"n, ""95"""');
  expect(csv.result.metrics?.['library_warm']).toBe('0');
  const manifest = libraryManifest();
  const pkg = manifest['@duckdb/duckdb-wasm']!;
  const fetched =
    pkg.files['dist/duckdb-browser-blocking.mjs']!.bytes + pkg.files['dist/duckdb-eh.wasm']!.bytes;
  expect(csv.result.metrics?.['library_fetched_bytes']).toBe(String(fetched)); // Chromium: the EH build only

  const json = await query({ sql: JOIN, format: 'json' });
  expect(Buffer.from(json.got).equals(Buffer.from(json.want))).toBe(true);
  expect(json.result.metrics?.['library_warm']).toBe('1');
  expect(json.result.metrics?.['library_fetched_bytes']).toBeUndefined();
  test.info().annotations.push({
    type: 'figures',
    description: `cold job ${csv.result.metrics?.['library_ms']} ms, warm job ${json.result.metrics?.['library_ms']} ms`,
  });
});

test('data.query Arrow holds the reference values', async () => {
  const arrow = await query({
    sql: 'SELECT id, amount, note FROM orders WHERE id % 50 = 0 ORDER BY id',
    format: 'arrow',
  });
  const rows = (bytes: Uint8Array) =>
    tableFromIPC(bytes)
      .toArray()
      .map((r) => Object.values(r.toJSON()).map((v) => (typeof v === 'bigint' ? Number(v) : v)));
  expect(rows(arrow.got)).toEqual(rows(arrow.want));
  expect(rows(arrow.got)[0]).toEqual([50, 37.5, 'n, "50"']);
});

test('a Parquet input joined with CSV equals native DuckDB byte for byte; parquet-wasm is fetched then, once', async () => {
  expect(parquetRequests).toEqual([]); // the CSV, JSON and Arrow jobs before did not fetch it
  const sql = `SELECT c.name, c.since, c.credit, count(*) AS orders, sum(o.amount) AS total
    FROM orders o JOIN customers c USING (customer) GROUP BY ALL ORDER BY c.name`;
  const csv = await query({ sql }, parquetInputs);
  expect(Buffer.from(csv.got).equals(Buffer.from(csv.want))).toBe(true);
  expect(new TextDecoder().decode(csv.got).split('\n').slice(0, 5)).toEqual([
    'name,since,credit,orders,total',
    'customer 0,2026-12-01,0.0,100,18937.5',
    'customer 1,2026-12-02,2.5,100,18637.5',
    'customer 2,2026-12-03,5.0,100,18712.5',
    'customer 3,2026-12-04,,100,18787.5',
  ]);
  expect(csv.result.summary?.['parquet_columns']).toBe('customers: customer, name, since, credit');
  // Two of the four columns: only those are decoded (DuckDB's plan of the query says which).
  const two = await query(
    { sql: 'SELECT name, credit FROM customers WHERE credit > 1 ORDER BY name' },
    parquetInputs,
  );
  expect(Buffer.from(two.got).equals(Buffer.from(two.want))).toBe(true);
  expect(two.result.summary?.['parquet_columns']).toBe('customers: name, credit');
  const manifest = libraryManifest()['parquet-wasm']!;
  expect(parquetRequests).toEqual([
    expect.stringContaining(`/v1/libs/parquet-wasm@${manifest.version}/esm/parquet_wasm_bg.wasm`),
  ]);
});

test("format parquet: the tab's Parquet equals the reference's (native DuckDB's) value for value", async () => {
  const sql = `SELECT o.id, o.amount, o.note, c.name, c.since FROM orders o JOIN customers c USING (customer)
    WHERE o.id % 25 = 0 ORDER BY o.id`;
  const parquet = await query({ sql, format: 'parquet' }, parquetInputs);
  expect(new TextDecoder().decode(parquet.got.subarray(0, 4))).toBe('PAR1');
  expect(Buffer.from(parquet.got).equals(Buffer.from(parquet.want))).toBe(false);
  expect(parquet.result.summary).toEqual({
    rows: '20',
    columns: '5',
    parquet_columns: 'customers: customer, name, since',
  });
  const named = (bytes: Uint8Array) => [{ name: 'result.parquet', bytes }];
  expect(await outputsAgree('data.query', named(parquet.got), named(parquet.want))).toBe(true);
  expect(parquetRequests).toHaveLength(1); // warm: not fetched again
});

test('SQL reaching for a file fails FORBIDDEN, not retried; the tab serves the next job', async () => {
  const id = taskId('data-forbidden');
  await harness.submit(
    libraryTask(id, 'data.query', { sql: "SELECT * FROM read_csv('/etc/passwd')" }, inputs),
  );
  const view = await settled(id);
  expect(view.state).toBe('failed');
  expect(view.failure?.code).toBe('FORBIDDEN');
  expect(view.failure?.message).toMatch(/Permission Error/);
  expect(view.attempts).toHaveLength(1);
  const next = await query({ sql: 'SELECT count(*) AS n FROM orders' });
  expect(new TextDecoder().decode(next.got)).toBe('n\n500\n');
});

test('a query as long as params.sql may be (100,000 characters) runs: the job spec outgrows the ring record', async () => {
  const head = 'SELECT count(*) AS n FROM orders -- ';
  const sql = head + 'x'.repeat(100_000 - head.length);
  expect(sql).toHaveLength(100_000);
  const long = await query({ sql });
  expect(new TextDecoder().decode(long.got)).toBe('n\n500\n');
});
