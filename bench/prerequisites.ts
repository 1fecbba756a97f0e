// What the benches need beyond node_modules, installed on a fresh Debian machine before they run:
// Debian packages through scripts/ensure-apt.sh (the project's one installer: it does nothing when
// they are there, otherwise runs `apt-get update` and installs the missing ones, printing
// "flock: installing Debian packages: …" and then "flock: installed Debian packages: …"), and
// the WebAssembly fixtures that `npm run build` of a workspace compiles, built when absent with a
// line saying so. Any failure stops the bench with the command that would fix it.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '..');

/** Debian's clang/lld/wasi-libc toolchain the fixture builds use (as scripts/setup.sh installs). */
export const WASM_TOOLCHAIN = ['clang', 'lld', 'wasi-libc', 'libclang-rt-14-dev-wasm32'];

function run(command: string, args: string[], fix: string): void {
  const result = spawnSync(command, args, { cwd: ROOT, stdio: 'inherit' });
  if (result.error !== undefined || result.status !== 0) {
    const why = result.error?.message ?? `exit status ${result.status ?? result.signal}`;
    throw new Error(`bench: \`${[command, ...args].join(' ')}\` failed (${why}); ${fix}`);
  }
}

/** Installs the Debian packages that are missing (needs root); ensure-apt.sh says which. */
export function ensureDebianPackages(packages: readonly string[]): void {
  run(
    'bash',
    ['scripts/ensure-apt.sh', ...packages],
    `install ${packages.join(' ')} (sudo apt-get install ${packages.join(' ')}) and run the bench again`,
  );
}

/** The system Chromium every browser bench launches (e2e/support/chromium.ts), or FLOCK_CHROMIUM. */
export function ensureChromium(): void {
  const own = process.env['FLOCK_CHROMIUM'];
  if (own === undefined) ensureDebianPackages(['chromium']);
  else if (!existsSync(own)) throw new Error(`bench: FLOCK_CHROMIUM=${own} does not exist`);
}

/**
 * Builds a workspace with `npm run build -w <workspace>` when one of `files` (paths from the
 * repository root) is missing, after installing the WASM toolchain; says what it built and why.
 */
export function ensureBuilt(workspace: string, files: readonly string[]): void {
  const missing = files.filter((f) => !existsSync(join(ROOT, f)));
  if (missing.length === 0) return;
  const command = `npm run build -w ${workspace}`;
  console.log(`bench: ${missing.join(', ')} missing; building them: ${command}`);
  ensureDebianPackages(WASM_TOOLCHAIN);
  run('npm', ['run', 'build', '-w', workspace], `run \`${command}\` from ${ROOT} and see its errors`);
  const still = missing.filter((f) => !existsSync(join(ROOT, f)));
  if (still.length > 0) throw new Error(`bench: \`${command}\` did not produce ${still.join(', ')}`);
  console.log(`bench: built ${missing.join(', ')}`);
}

/** The worker-web WebAssembly fixtures (apps/worker-web/scripts/build-fixtures.sh) named. */
export function ensureWorkerWebFixtures(names: readonly string[]): void {
  ensureBuilt(
    '@flock/worker-web',
    names.map((n) => `apps/worker-web/build/fixtures/${n}.wasm`),
  );
}
