// Runs the CLI in process (`main` with a captured CliIo) against a coordinator, as the CLI tests do.
import { type CliIo, main } from '../../src/cli/main.ts';

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** `flock <args>` with FLOCK_URL `url` and FLOCK_API_KEY `key` (and `env`); stdin and a TTY stderr if given. */
export async function runCli(
  args: string[],
  options: { url: string; key: string; stdin?: string; tty?: boolean; env?: Record<string, string> },
): Promise<CliRun> {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = {
    stdout: (t) => out.push(t),
    stderr: (t) => err.push(t),
    stderrIsTTY: options.tty ?? false,
    env: { FLOCK_URL: options.url, FLOCK_API_KEY: options.key, ...options.env },
    readStdin: async () => options.stdin ?? '',
  };
  const code = await main(args, io);
  return { code, stdout: out.join(''), stderr: err.join('') };
}
