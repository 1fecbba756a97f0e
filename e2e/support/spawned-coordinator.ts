// A coordinator in its own process (`apps/coordinator/src/main.ts`, what `npm start` runs), for
// flows that kill it with SIGKILL or start it as a newcomer would: fresh data dir, free port,
// the URL and the dev key read from what it prints.
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { build } from 'vite';

export const ROOT = resolve(import.meta.dirname, '../..');

/** A free TCP port on 127.0.0.1 (a restart must come back on the same one). */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

/** Builds the volunteer page and the dashboard (root vite.config.ts) into `outDir`. */
export async function buildPages(outDir: string): Promise<void> {
  await build({
    configFile: join(ROOT, 'vite.config.ts'),
    logLevel: 'warn',
    build: { outDir, emptyOutDir: true },
  });
}

/** What the coordinator printed at start. */
export interface StartBanner {
  readonly url: string;
  /** The generated dev API key, when FLOCK_API_KEYS was not set. */
  readonly devKey?: string;
}

/** A spawned process whose stdout is kept and scanned for the start banner. */
export class CoordinatorProcess {
  #stdout = '';
  #stderr = '';

  private constructor(readonly child: ChildProcess) {
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      this.#stdout += chunk;
    });
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      this.#stderr += chunk;
    });
  }

  /**
   * Spawns `command args` in the repo root; call `banner()` to wait for start. The environment is
   * this process's without any inherited FLOCK_* variable (a newcomer has none), plus `env`.
   */
  static spawn(command: string, args: string[], env: Record<string, string>): CoordinatorProcess {
    const inherited = Object.fromEntries(
      Object.entries(process.env).filter(([name]) => !name.startsWith('FLOCK_')),
    );
    return new CoordinatorProcess(
      spawn(command, args, { cwd: ROOT, env: { ...inherited, ...env }, stdio: ['ignore', 'pipe', 'pipe'] }),
    );
  }

  /** `node --import tsx apps/coordinator/src/main.ts`, the coordinator's own entry point. */
  static main(env: Record<string, string>): CoordinatorProcess {
    return CoordinatorProcess.spawn(
      process.execPath,
      ['--import', 'tsx', 'apps/coordinator/src/main.ts'],
      env,
    );
  }

  get stdout(): string {
    return this.#stdout;
  }

  /** Polls stdout for the "listening on" line (and the dev key line); rejects if the process exits. */
  async banner(timeoutMs = 60_000): Promise<StartBanner> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const url = /flock coordinator listening on (https?:\/\/\S+)/.exec(this.#stdout)?.[1];
      const data = /^ {2}data {12}\S/m.test(this.#stdout);
      if (url !== undefined && data) {
        const devKey = /dev API key\s+(\S+)/.exec(this.#stdout)?.[1];
        return devKey === undefined ? { url } : { url, devKey };
      }
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        throw new Error(
          `coordinator exited (${this.child.exitCode ?? this.child.signalCode}): ${this.#stderr}`,
        );
      }
      if (Date.now() > end)
        throw new Error(`no start banner within ${timeoutMs} ms: ${this.#stdout}${this.#stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Sends `signal` and waits for the process to exit. */
  async kill(signal: NodeJS.Signals): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.kill(signal);
    await exited;
  }
}
