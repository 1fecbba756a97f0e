// The wasip1 tests of a WebAssembly/wasi-testsuite checkout (branch prod/testsuite-base): each
// `tests/<lang>/testsuite/wasm32-wasip1/NAME.wasm` with an optional `NAME.json` giving `args`,
// `env`, `root` (a directory preopened at `/`), `exit_code` and `stdout`.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

/** The languages the suite builds wasip1 tests from, in the order the table prints them. */
export const LANGUAGES = ['c', 'rust', 'assemblyscript'] as const;
export type Language = (typeof LANGUAGES)[number];

/** One test and what it expects. */
export interface SuiteCase {
  language: Language;
  name: string;
  wasm: string;
  args: string[];
  env: Record<string, string>;
  /** The directory preopened at `/`, absolute; none when the test names no `root`. */
  root?: string;
  exitCode: number;
  /** The exact stdout expected; anything when the test names none. */
  stdout?: string;
}

interface CaseJson {
  args?: string[];
  env?: Record<string, string>;
  root?: string;
  exit_code?: number;
  stdout?: string;
}

/** Every wasip1 test under `suite` (the checkout's root or its `tests` folder) whose name contains `filter`. */
export async function loadCases(suite: string, filter = ''): Promise<SuiteCase[]> {
  const tests = (await readdir(suite)).includes('tests') ? join(suite, 'tests') : suite;
  const cases: SuiteCase[] = [];
  for (const language of LANGUAGES) {
    const dir = join(tests, language, 'testsuite', 'wasm32-wasip1');
    let names: string[];
    try {
      names = (await readdir(dir)).filter((n) => n.endsWith('.wasm')).sort();
    } catch {
      continue;
    }
    for (const file of names) {
      const name = file.slice(0, -'.wasm'.length);
      if (!name.includes(filter)) continue;
      const json = await readJson(join(dir, `${name}.json`));
      cases.push({
        language,
        name,
        wasm: join(dir, file),
        args: json.args ?? [],
        env: json.env ?? {},
        ...(json.root === undefined ? {} : { root: join(dir, json.root) }),
        exitCode: json.exit_code ?? 0,
        ...(json.stdout === undefined ? {} : { stdout: json.stdout }),
      });
    }
  }
  return cases;
}

async function readJson(path: string): Promise<CaseJson> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as CaseJson;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw error;
  }
}

/** What one runtime did with a test. */
export interface Outcome {
  exitCode?: number;
  stdout?: string;
  /** Why it did not exit (a trap, a failed task, a timeout). */
  error?: string;
}

/** Whether `outcome` is what `test` expects: its exit code and, where given, its exact stdout. */
export function passes(test: SuiteCase, outcome: Outcome): boolean {
  if (outcome.error !== undefined || outcome.exitCode !== test.exitCode) return false;
  return test.stdout === undefined || outcome.stdout === test.stdout;
}

/** One line on why `outcome` fails `test`, or `pass`. */
export function verdict(test: SuiteCase, outcome: Outcome): string {
  if (passes(test, outcome)) return 'pass';
  if (outcome.error !== undefined) return outcome.error;
  if (outcome.exitCode !== test.exitCode) return `exit ${outcome.exitCode}, expected ${test.exitCode}`;
  return `stdout ${JSON.stringify(outcome.stdout)}, expected ${JSON.stringify(test.stdout)}`;
}
