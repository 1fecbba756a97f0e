// What the crash tests share: a free port, and a coordinator child process (`main.ts` under tsx)
// on a data directory, started and polled until it answers, to be killed with SIGKILL.
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { resolve } from 'node:path';
import { KEY_A } from '../helpers.ts';

const ROOT = resolve(import.meta.dirname, '../../../..');

export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolvePort(port));
    });
  });
}

/**
 * Starts a coordinator process on `port` and `dataDir` (tenant `a` with KEY_A; short leases and
 * heartbeats so a killed one's leases expire fast; the simulated volunteers' op `sum`; more or
 * other settings in `env`), and resolves once `/healthz` answers.
 */
export async function startCoordinatorChild(
  port: number,
  dataDir: string,
  env: Record<string, string> = {},
): Promise<ChildProcess> {
  const proc = spawn(process.execPath, ['--import', 'tsx', 'apps/coordinator/src/main.ts'], {
    cwd: ROOT,
    env: {
      ...process.env,
      FLOCK_PORT: String(port),
      FLOCK_DATA: dataDir,
      FLOCK_API_KEYS: `${KEY_A}:a`,
      // The op the simulated volunteers run (no page ships it).
      FLOCK_EXTRA_OPS: 'sum',
      FLOCK_LEASE_MS: '1500',
      FLOCK_HEARTBEAT_MS: '300',
      FLOCK_LOG_LEVEL: 'warn',
      ...env,
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const end = Date.now() + 30_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`coordinator exited with ${proc.exitCode}`);
    try {
      if ((await fetch(`http://127.0.0.1:${port}/healthz`)).ok) return proc;
    } catch {
      // not listening yet
    }
    if (Date.now() > end) throw new Error('coordinator did not start');
    await new Promise((r) => setTimeout(r, 25));
  }
}
