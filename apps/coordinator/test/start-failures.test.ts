// `npm start` with a bad setting: src/main.ts stops with one line naming the variable and exit
// code 2 (the README's promise), whether config parsing finds it or only the start does (a TLS
// file that cannot be read, a port in use, a data directory that cannot be made), never with a
// stack trace; a PostgreSQL store it cannot reach too.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../../..');

/** Runs main.ts with only these FLOCK_* variables; resolves to its exit code and stderr. */
function startMain(env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('FLOCK_')));
  return new Promise((done) => {
    const child = execFile(
      process.execPath,
      ['--import', 'tsx', 'apps/coordinator/src/main.ts'],
      { cwd: ROOT, env: { ...inherited, FLOCK_LOG_LEVEL: 'warn', ...env }, timeout: 30_000 },
      (_err, _stdout, stderr) => done({ code: child.exitCode, stderr }),
    );
  });
}

describe('main.ts refuses bad settings at start', () => {
  let dir: string;
  let taken: Server;
  let takenPort: number;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'flock-start-'));
    taken = createServer();
    await new Promise<void>((ok) => taken.listen(0, '127.0.0.1', ok));
    takenPort = (taken.address() as { port: number }).port;
  });
  afterAll(() => {
    taken.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('a value config parsing refuses', async () => {
    expect(await startMain({ FLOCK_LEASE_MS: 'abc' })).toEqual({
      code: 2,
      stderr: 'flock: bad configuration: FLOCK_LEASE_MS must be a non-negative integer, got "abc"\n',
    });
    expect(await startMain({ FLOCK_LOG_LEVEL: 'loud' })).toEqual({
      code: 2,
      stderr:
        'flock: bad configuration: FLOCK_LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent, got "loud"\n',
    });
    // Checked on SQLite too, where it is not used yet.
    expect(await startMain({ FLOCK_PG_POOL: '-1' })).toEqual({
      code: 2,
      stderr: 'flock: bad configuration: FLOCK_PG_POOL must be an integer in 1..1000\n',
    });
  });

  test('a TLS file that cannot be read, a port in use, a data directory that cannot be made', async () => {
    const missing = join(dir, 'missing.pem');
    const tls = await startMain({ FLOCK_DATA: dir, FLOCK_TLS_CERT: missing, FLOCK_TLS_KEY: missing });
    expect(tls.code).toBe(2);
    expect(tls.stderr).toMatch(
      new RegExp(`^flock: bad configuration: FLOCK_TLS_CERT: cannot read ${missing}: .*ENOENT.*\\n$`),
    );
    const port = await startMain({ FLOCK_DATA: dir, FLOCK_PORT: String(takenPort) });
    expect(port.code).toBe(2);
    expect(port.stderr).toBe(
      `flock: cannot listen on FLOCK_PORT=${takenPort} (FLOCK_HOST=127.0.0.1): listen EADDRINUSE: address already in use 127.0.0.1:${takenPort}\n`,
    );
    const file = join(dir, 'a-file');
    writeFileSync(file, '');
    const data = await startMain({ FLOCK_DATA: join(file, 'data'), FLOCK_PORT: '0' });
    expect(data).toEqual({
      code: 2,
      stderr: `flock: cannot use FLOCK_DATA=${file}/data: ENOTDIR: not a directory, mkdir '${file}/data'\n`,
    });
  });

  test('a PostgreSQL store that cannot be reached: FLOCK_STORE named, its password hidden', async () => {
    // A port nothing listens on: taken, then given back.
    const probe = createServer();
    await new Promise<void>((ok) => probe.listen(0, '127.0.0.1', ok));
    const closedPort = (probe.address() as { port: number }).port;
    await new Promise<void>((ok) => probe.close(() => ok()));
    const refused = await startMain({
      FLOCK_DATA: dir,
      FLOCK_STORE: `postgres://flock:hunter2@127.0.0.1:${closedPort}/flock?password=hunter2`,
    });
    expect(refused).toEqual({
      code: 2,
      stderr: `flock: bad configuration: FLOCK_STORE: cannot use postgres://flock:***@127.0.0.1:${closedPort}/flock?password=***: connect ECONNREFUSED 127.0.0.1:${closedPort}\n`,
    });
    // A database host that does not resolve was blamed on FLOCK_HOST before.
    const unresolved = await startMain({ FLOCK_DATA: dir, FLOCK_STORE: 'postgres://flock@db.invalid/flock' });
    expect(unresolved.code).toBe(2);
    expect(unresolved.stderr).toMatch(
      /^flock: bad configuration: FLOCK_STORE: cannot use postgres:\/\/flock@db\.invalid\/flock: getaddrinfo (ENOTFOUND|EAI_AGAIN) db\.invalid\n$/,
    );
  });
});
