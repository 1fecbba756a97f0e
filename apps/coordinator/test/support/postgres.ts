// A real PostgreSQL server for tests: `scripts/postgres.sh` starts one private server (own data
// dir under /tmp, own port, installed from Debian when missing) and counts its users by pid, so
// every test file of a run shares it and the last one to release it stops it. Each caller gets
// fresh databases (or, cheaper, fresh schemas in one database of its own), dropped on release. FLOCK_TEST_PG_URL points at an existing server instead
// (then nothing is started or stopped).
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll } from 'vitest';
import { PostgresStore } from '../../src/store/postgres-store.ts';
import type { Store } from '../../src/store/store.ts';

const run = promisify(execFile);
const SCRIPT = fileURLToPath(new URL('../../../../scripts/postgres.sh', import.meta.url));

export interface PostgresHarness {
  /** URL of the server's maintenance database. */
  url: string;
  /** Creates an empty database and returns its URL. */
  createDatabase(): Promise<string>;
  /**
   * Creates an empty schema in a database private to this harness and returns a URL whose
   * connections use it (search_path). Far cheaper than a database (whose DROP checkpoints);
   * NOTIFY channels are per database, so schemas of one harness share them.
   */
  createSchema(): Promise<string>;
  /** Drops the databases created here and lets the server stop when no one else uses it. */
  release(): Promise<void>;
}

function withDatabase(url: string, name: string, schema?: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  if (schema !== undefined) u.searchParams.set('options', `-c search_path=${schema}`);
  return u.toString();
}

const uniqueName = (prefix: string): string => `${prefix}_${randomBytes(6).toString('hex')}`;

export async function acquirePostgres(): Promise<PostgresHarness> {
  const external = process.env.FLOCK_TEST_PG_URL;
  const holder = String(process.pid);
  const url =
    external ?? (await run('bash', [SCRIPT, 'acquire', holder], { timeout: 300_000 })).stdout.trim();
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  const created: string[] = [];
  const createDatabase = async (): Promise<string> => {
    const name = uniqueName('flock_test');
    await admin.query(`CREATE DATABASE ${name}`);
    created.push(name);
    return name;
  };
  let schemaHome: Promise<{ name: string; client: pg.Client }> | undefined;
  return {
    url,
    async createDatabase() {
      return withDatabase(url, await createDatabase());
    },
    async createSchema() {
      schemaHome ??= createDatabase().then(async (name) => {
        const client = new pg.Client({ connectionString: withDatabase(url, name) });
        await client.connect();
        return { name, client };
      });
      const home = await schemaHome;
      const schema = uniqueName('s');
      await home.client.query(`CREATE SCHEMA ${schema}`);
      return withDatabase(url, home.name, schema);
    },
    async release() {
      if (schemaHome) await (await schemaHome).client.end();
      for (const name of created) await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.end();
      if (external === undefined) await run('bash', [SCRIPT, 'release', holder], { timeout: 120_000 });
    },
  };
}

/**
 * The shared harness for the enclosing `describe` (or file): acquired before its tests (the first
 * start may install and initialize the server), released after them. Returns a getter.
 */
export function usePostgres(): () => PostgresHarness {
  let harness: PostgresHarness | undefined;
  beforeAll(async () => {
    harness = await acquirePostgres();
  }, 300_000);
  afterAll(async () => {
    await harness?.release();
  });
  return () => harness!;
}

/**
 * The stores a coordinator test runs on, for `describe.each`: SQLite (`undefined`: the test
 * coordinator's own file) and PostgreSQL (a fresh schema of this file's harness, acquired on first
 * use and released after the file).
 */
export function coordinatorStores(): Array<[string, () => Promise<Store | undefined>]> {
  let harness: Promise<PostgresHarness> | undefined;
  afterAll(async () => {
    await (await harness)?.release();
  });
  return [
    ['SQLite', async () => undefined],
    [
      'PostgreSQL',
      async () => {
        harness ??= acquirePostgres();
        return new PostgresStore(await (await harness).createSchema(), { maxConnections: 4 });
      },
    ],
  ];
}
