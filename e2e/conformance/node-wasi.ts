// Runs a wasi-testsuite test under node:wasi, the reference the tab is measured against: in a child
// process (a test may trap, hang or exit), its `root` copied to a temporary directory preopened at
// `/`, stdin empty, stdout captured.
import { spawn } from 'node:child_process';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Outcome, SuiteCase } from './suite-cases.ts';

/** What the child runs: the case's JSON in FLOCK_WASI_CASE; exits with the program's status. */
const CHILD = `
import { readFile } from 'node:fs/promises';
import { WASI } from 'node:wasi';
const c = JSON.parse(process.env.FLOCK_WASI_CASE);
const wasi = new WASI({
  version: 'preview1', args: [c.name, ...c.args], env: c.env, returnOnExit: true,
  preopens: c.dir ? { '/': c.dir } : {},
});
const module = await WebAssembly.compile(await readFile(c.wasm));
const instance = await WebAssembly.instantiate(module, wasi.getImportObject());
process.exitCode = wasi.start(instance);
`;

/** How long one test may run under node:wasi (ms). */
const NODE_TIMEOUT_MS = 60_000;

export async function runNodeWasi(test: SuiteCase): Promise<Outcome> {
  const dir = test.root === undefined ? undefined : await mkdtemp(join(tmpdir(), 'flock-wts-node-'));
  try {
    if (dir !== undefined && test.root !== undefined) await cp(test.root, dir, { recursive: true });
    const payload = { name: test.name, wasm: test.wasm, args: test.args, env: test.env, dir };
    return await child(JSON.stringify(payload));
  } finally {
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  }
}

function child(payload: string): Promise<Outcome> {
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, ['--no-warnings', '--input-type=module', '-e', CHILD], {
      env: { ...process.env, FLOCK_WASI_CASE: payload },
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: NODE_TIMEOUT_MS,
    });
    let stdout = '';
    let stderr = '';
    proc.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
    });
    proc.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    proc.on('close', (code, signal) => {
      if (code === null) resolve({ stdout, error: `killed by ${signal}` });
      else if (/RuntimeError|CompileError|LinkError/.test(stderr))
        resolve({ stdout, error: `trap; stderr: ${firstLines(stderr)}` });
      else resolve({ exitCode: code, stdout });
    });
  });
}

/** The first lines of a trap's stderr: a panic or assert message, then the error's own line. */
function firstLines(stderr: string): string {
  const lines = stderr.split('\n').filter((line) => line.trim() !== '');
  const panic = lines.findIndex((line) => /panicked|Assertion|RuntimeError/.test(line));
  return lines.slice(Math.max(0, panic), Math.max(0, panic) + 2).join(' | ');
}
