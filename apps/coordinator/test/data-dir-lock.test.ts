// One coordinator per data directory on the embedded SQLite store (data-dir-lock.ts): a second
// live one on the same FLOCK_DATA is refused naming the variable and the holder (main.ts: one
// line, exit 2), since both would recover and run the same open tasks; the directory is free as
// soon as the holder stops, or is killed.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { type RunningCoordinator, startCoordinator } from '../src/start-coordinator.ts';

const ROOT = resolve(import.meta.dirname, '../../..');
let dir: string;
const running: RunningCoordinator[] = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'flock-data-lock-'));
});
afterAll(async () => {
  for (const c of running) await c.close();
  rmSync(dir, { recursive: true, force: true });
});

async function start(dataDir: string): Promise<RunningCoordinator> {
  const c = await startCoordinator({ port: 0, dataDir, logLevel: 'silent' });
  running.push(c);
  return c;
}

async function refusal(dataDir: string): Promise<unknown> {
  try {
    await start(dataDir);
  } catch (err) {
    return err;
  }
  return undefined;
}

const inUse = (dataDir: string, pid: number): RegExp =>
  new RegExp(
    `^FLOCK_DATA=${dataDir} is in use by another live coordinator \\(${hostname()} pid ${pid}, started ` +
      '\\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z\\): stop it or use another data directory$',
  );

function mainEnv(dataDir: string): NodeJS.ProcessEnv {
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('FLOCK_')));
  return { ...inherited, FLOCK_LOG_LEVEL: 'warn', FLOCK_DATA: dataDir, FLOCK_PORT: '0' };
}

test('a second coordinator on a data directory in use is refused; the directory is free once the first stops', async () => {
  const data = join(dir, 'shared');
  const first = await start(data);
  const err = await refusal(data);
  expect(err).toMatchObject({ code: 'CONFIG_INVALID', field: 'FLOCK_DATA' });
  expect((err as Error).message).toMatch(inUse(data, process.pid));

  // main.ts: one line naming the variable, exit 2.
  const main = await new Promise<{ code: number | null; stderr: string }>((done) => {
    const child = execFile(
      process.execPath,
      ['--import', 'tsx', 'apps/coordinator/src/main.ts'],
      { cwd: ROOT, env: mainEnv(data), timeout: 30_000 },
      (_err, _stdout, stderr) => done({ code: child.exitCode, stderr }),
    );
  });
  expect(main.code).toBe(2);
  expect(main.stderr).toMatch(
    new RegExp(`^flock: bad configuration: ${inUse(data, process.pid).source.slice(1, -1)}\\n$`),
  );

  await first.close();
  expect(await refusal(data)).toBeUndefined();
});

test('a killed coordinator leaves its data directory free at once', async () => {
  const data = join(dir, 'killed');
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', 'apps/coordinator/src/main.ts'], {
    cwd: ROOT,
    env: mainEnv(data),
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    out += chunk.toString();
  });
  await expect.poll(() => out, { timeout: 30_000, interval: 50 }).toContain('listening on');
  const err = await refusal(data);
  expect((err as Error).message).toMatch(inUse(data, child.pid ?? 0));

  const exited = new Promise((done) => child.once('exit', done));
  child.kill('SIGKILL');
  await exited;
  expect(await refusal(data)).toBeUndefined();
});
