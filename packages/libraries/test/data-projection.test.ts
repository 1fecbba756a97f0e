// data.query's column projection for Parquet inputs (data-projection.ts): DuckDB's plan of the
// query on zero-row tables decides which columns the tab decodes. Every query here gives what native
// DuckDB gives on the whole file; the summary's parquet_columns says what was decoded.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { tableFromArrays, tableToIPC } from 'apache-arrow';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { checkLibraryCall, LibraryError } from '../src/index.ts';
import { installedFile, nodeDuckDBWasm } from '../src/reference/data-wasm-node.ts';
import { outputsAgree, runReference } from '../src/reference/index.ts';
import { type DuckDBWasm, runDataJob, type WasmConnection } from '../src/runtime/data-job.ts';
import { scannedColumns } from '../src/runtime/data-projection.ts';
import type { LibraryInput, LibraryResult } from '../src/runtime/index.ts';
import { nodeContext } from './support/node-context.ts';

const dir = mkdtempSync(join(tmpdir(), 'flock-data-projection-'));
let db: DuckDBWasm;
let t: LibraryInput;
let u: LibraryInput;
let notes: LibraryInput;
let notesJson: LibraryInput;
let weights: LibraryInput;

beforeAll(async () => {
  const native = await DuckDBInstance.create(':memory:');
  const conn = await native.connect();
  await conn.run(`COPY (SELECT i AS id, i % 7 AS k, (i * 37 % 1000) / 8.0 AS v,
      CASE WHEN i % 11 = 0 THEN NULL ELSE 'tag-' || (i % 5) END AS tag FROM range(3000) t(i))
    TO '${dir}/t.parquet' (FORMAT parquet)`);
  await conn.run(`COPY (SELECT i AS k, 'name ' || i AS name, i * 10 AS weight FROM range(7) t(i))
    TO '${dir}/u.parquet' (FORMAT parquet)`);
  await conn.run(
    `COPY (SELECT i AS k, 'note ' || i AS note FROM range(0, 7, 2) t(i)) TO '${dir}/notes.csv' (HEADER)`,
  );
  await conn.run(`COPY (FROM '${dir}/notes.csv') TO '${dir}/notes.json' (FORMAT json)`);
  conn.closeSync();
  native.closeSync();
  const read = (name: string) => new Uint8Array(readFileSync(join(dir, name)));
  t = { name: 't.parquet', contentType: '', bytes: read('t.parquet') };
  u = { name: 'u.parquet', contentType: '', bytes: read('u.parquet') };
  notes = { name: 'notes.csv', contentType: 'text/csv', bytes: read('notes.csv') };
  notesJson = { name: 'jnotes.ndjson', contentType: '', bytes: read('notes.json') };
  const arrow = tableFromArrays({ k: Int32Array.from([1, 3, 5]), w: Float64Array.from([0.5, 1.5, 2.5]) });
  weights = { name: 'w.arrow', contentType: '', bytes: tableToIPC(arrow, 'stream') };
  db = await nodeDuckDBWasm();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function tab(sql: string, inputs: LibraryInput[], on: DuckDBWasm = db): Promise<LibraryResult> {
  const call = checkLibraryCall('data.query', { sql }, inputs.length);
  return runDataJob(on, call, inputs, { ...nodeContext('data'), file: installedFile });
}

/** The tab's result agrees with native DuckDB's (outputsAgree); returns the columns decoded. */
async function agrees(sql: string, inputs: LibraryInput[]): Promise<string | undefined> {
  const got = await tab(sql, inputs);
  const want = await runReference('data.query', { sql }, inputs);
  expect(await outputsAgree('data.query', got.outputs, want.outputs)).toBe(true);
  expect(got.summary?.rows).toBe(want.summary?.rows);
  return got.summary?.parquet_columns;
}

const ALL = 't: id, k, v, tag';

describe('which columns a Parquet input decodes', () => {
  test.each([
    ['SELECT sum(v) AS s FROM t', 't: v'],
    ['SELECT k, sum(v) AS total, avg(v) AS mean, count(*) AS n FROM t GROUP BY k ORDER BY k', 't: k, v'],
    ["SELECT count(*) AS n, sum(k) AS s FROM t WHERE tag = 'tag-3' AND v > 50", 't: k, v, tag'],
    ['SELECT id, k, v, tag FROM t ORDER BY id', ALL],
    ['SELECT count(*) AS n FROM t', 't: id'],
    ['SELECT k FROM (SELECT k, tag, v FROM t) ORDER BY k LIMIT 3', 't: k'],
    ['SELECT id FROM t ORDER BY v DESC, id LIMIT 4', 't: id, v'],
    ['SELECT s.k FROM (SELECT * FROM t) s(i, k) ORDER BY 1 LIMIT 3', 't: k'],
    ['SELECT * EXCLUDE (tag) FROM t ORDER BY id LIMIT 3', 't: id, k, v'],
    ['SELECT * REPLACE (v * 2 AS v) FROM t ORDER BY id LIMIT 3', ALL],
    ['SELECT * FROM t ORDER BY id', ALL],
    ['SELECT t FROM t ORDER BY t.id', ALL],
    ['FROM t ORDER BY id', ALL],
    ['SELECT max(COLUMNS(*)) FROM t', ALL],
    ["SELECT min(COLUMNS('^(k|v)$')) FROM t", 't: k, v'],
    ['SELECT t.* FROM t ORDER BY id LIMIT 9', ALL],
    ['SELECT * FROM t WHERE false', ALL],
    ['SELECT #2 AS second FROM t ORDER BY id LIMIT 3', ALL],
    ['SELECT rowid AS r, k FROM t ORDER BY r LIMIT 3', ALL],
    ["PIVOT t ON tag IN ('tag-1', 'tag-2') USING sum(v) GROUP BY k ORDER BY k", ALL],
    ["SELECT count(*) AS n FROM duckdb_columns() WHERE table_name = 't'", ALL],
  ])('%s: decodes %s, and equals native DuckDB', async (sql, decoded) => {
    expect(await agrees(sql, [t])).toBe(decoded);
  });

  test('a join of two Parquet inputs on a column; CSV, NDJSON and Arrow inputs beside them', async () => {
    const sql = `SELECT u.name, count(*) AS n, sum(t.v) AS total FROM t JOIN u ON t.k = u.k
      GROUP BY u.name ORDER BY u.name`;
    expect(await agrees(sql, [t, u])).toBe('t: k, v; u: k, name');
    const three = `SELECT u.name, n.note, count(*) AS rows FROM t JOIN u USING (k) LEFT JOIN notes n USING (k)
      GROUP BY ALL ORDER BY u.name`;
    expect(await agrees(three, [t, u, notes])).toBe('t: k; u: k, name');
    const four = `SELECT t.k, count(*) AS n, max(j.note) AS note, sum(w.w) AS w FROM t LEFT JOIN jnotes j USING (k)
      LEFT JOIN w USING (k) GROUP BY t.k ORDER BY t.k`;
    expect(await agrees(four, [notesJson, t, weights])).toBe('t: k');
    expect(await agrees('SELECT * FROM t NATURAL JOIN u ORDER BY id', [t, u])).toBe(
      't: id, k, v, tag; u: k, name, weight',
    );
    expect(await agrees('SELECT a.id, b.v FROM t a JOIN t b USING (id) ORDER BY a.id LIMIT 5', [t])).toBe(
      't: id, v',
    );
  });
});

describe('the projection pass cannot be used to escape', () => {
  /** `db` with every query a connection runs recorded, with its error. */
  function recorded(): { db: DuckDBWasm; log: [string, string][] } {
    const log: [string, string][] = [];
    const spy = Object.create(db) as DuckDBWasm;
    spy.connect = () => {
      const conn = db.connect();
      const query = conn.query.bind(conn);
      return Object.assign(Object.create(conn) as WasmConnection, {
        query: (text: string) => {
          try {
            const result = query(text);
            log.push([text, 'ok']);
            return result;
          } catch (err) {
            log.push([text, (err as Error).message]);
            throw err;
          }
        },
      });
    };
    return { db: spy, log };
  }

  test("EXPLAIN of read_csv('/etc/passwd') is refused by the locked throwaway database; the job is FORBIDDEN", async () => {
    const { db: spy, log } = recorded();
    const sql = "SELECT t.k, p.* FROM t, read_csv('/etc/passwd') p";
    const error = await tab(sql, [t], spy).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(LibraryError);
    expect([(error as LibraryError).code, (error as LibraryError).field]).toEqual([
      'FORBIDDEN',
      'params.sql',
    ]);
    const explain = log.findIndex(([text]) => text.startsWith('EXPLAIN'));
    const locked = log.findIndex(([text]) => text === 'SET lock_configuration = true');
    expect(locked).toBeGreaterThan(-1);
    expect(explain).toBeGreaterThan(locked);
    expect(log[explain]![1]).toMatch(/^Permission Error: .*disabled by configuration/);
    expect(log.filter(([, outcome]) => outcome === 'ok').map(([text]) => text)).not.toContain(
      log[explain]![0],
    );
  });

  test("after the projection pass the job's own database is locked as before", async () => {
    const sql = "SELECT current_setting('enable_external_access') AS x, count(*) AS n FROM t";
    const got = await tab(sql, [t]);
    expect(new TextDecoder().decode(got.outputs[0]!.bytes)).toBe('x,n\nfalse,3000\n');
    expect(got.summary?.parquet_columns).toBe('t: id');
  });
});

describe('scannedColumns (the plan reader)', () => {
  const schemas = new Map([['t', ['id', 'k', 's']]]);
  const scan = (info: Record<string, unknown>, name = 'SEQ_SCAN ') => [
    { name: 'PROJECTION', children: [{ name, children: [], extra_info: { Table: 't', ...info } }] },
  ];
  test('reads projections, a struct field as its column, and gives up on what it cannot read', () => {
    expect(scannedColumns(scan({ Projections: ['k', 's.a'] }), schemas)).toEqual(
      new Map([['t', new Set(['k', 's'])]]),
    );
    expect(scannedColumns(scan({ Projections: '' }), schemas)).toEqual(new Map([['t', new Set()]]));
    expect(scannedColumns(scan({ Projections: 'k', Filters: 'id>1' }), schemas)).toEqual(
      new Map([['t', undefined]]),
    );
    expect(scannedColumns(scan({ Projections: 'nope' }), schemas)).toEqual(new Map([['t', undefined]]));
    expect(scannedColumns(scan({ Projections: 'k' }, 'INDEX_SCAN'), schemas)).toEqual(
      new Map([['t', undefined]]),
    );
    expect(
      scannedColumns([{ name: 'X', extra_info: { Function: 'DUCKDB_TABLES' } }], schemas),
    ).toBeUndefined();
    expect(scannedColumns({ not: 'a plan' }, schemas)).toBeUndefined();
  });
});
