// The operator's documentation against the code: the settings tables (README.md "Run", SCALE.md's
// cluster table) list exactly the FLOCK_* variables the coordinator reads, with their defaults,
// and the README's Observability section lists exactly the metrics a running coordinator exports.
// The variables are found by scanning src/ rather than from a list in config.ts: they are read in
// five files (config-env, deploy-config, webhook-config, key-config, cluster), partly through tables
// and partly as `env.FLOCK_X`, and a list kept beside them could drift as the docs did.
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { clusterFromEnv, DEFAULT_CLUSTER } from '../src/cluster/cluster.ts';
import { loadConfig } from '../src/config.ts';
import { startTest, type TestCoordinator } from './helpers.ts';

const APP = resolve(import.meta.dirname, '..');
const doc = (file: string): string => readFileSync(join(APP, file), 'utf8');

/** Variables src/ reads for tests only (fault injection); TESTING.md documents them, not the tables. */
const TEST_HOOKS = ['FLOCK_FAULT_KILL_BEFORE_WEBHOOK'];

/** `flock_` words in the docs that are no metric. */
const NOT_METRICS = new Map([
  ['flock_task_queued', 'the PostgreSQL NOTIFY channel (SCALE.md)'],
  ['flock_test', "the volunteer page's fault query parameter (TRUST.md)"],
]);

/** The docs operators read. */
const OPERATOR_DOCS = [
  'README.md',
  'DEPLOY.md',
  'SCALE.md',
  'LIMITS.md',
  'TRUST.md',
  'WORKFLOWS.md',
  'API.md',
];

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts'))
    .map((f) => join(dir, f));
}

/**
 * The FLOCK_* variables the files read: `env.FLOCK_X` (`env?.`, `process.env.`) or a string literal
 * that is a variable's name and nothing else (the tables of integer settings, `env[name]`).
 * Names inside messages and comments are mentions, not reads.
 */
function variablesRead(files: string[]): Set<string> {
  const read = new Set<string>();
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/\benv\??\.(FLOCK_[A-Z0-9_]+)\b/g)) read.add(m[1] as string);
    for (const m of text.matchAll(/'(FLOCK_[A-Z0-9_]+)'/g)) read.add(m[1] as string);
  }
  return read;
}

/** Every FLOCK_X the text names, prefixes such as `FLOCK_WEBHOOK_*` left out. */
function variablesNamed(text: string): Set<string> {
  return new Set([...text.matchAll(/\bFLOCK_[A-Z0-9_]+/g)].map((m) => m[0]).filter((n) => !n.endsWith('_')));
}

/** The `| Variable | Default | ... |` table of a markdown file: each variable's default cell. */
function settingsTable(file: string): Map<string, string> {
  const lines = doc(file).split('\n');
  const start = lines.findIndex((l) => /^\|\s*Variable\s*\|\s*Default\s*\|/.test(l));
  expect(start, `${file} has a "| Variable | Default |" table`).toBeGreaterThan(-1);
  const rows = new Map<string, string>();
  for (const line of lines.slice(start + 2)) {
    if (!line.startsWith('|')) break;
    const [name, fallback] = line
      .split(/(?<!\\)\|/)
      .slice(1, 3)
      .map((cell) => cell.trim());
    const variable = /^`(FLOCK_[A-Z0-9_]+)`$/.exec(name ?? '')?.[1];
    expect(variable, `${file}: a row that names no variable: ${line.slice(0, 60)}`).toBeDefined();
    expect(rows.has(variable as string), `${file} lists ${variable} twice`).toBe(false);
    rows.set(variable as string, fallback ?? '');
  }
  return rows;
}

/**
 * A default cell that is one plain value (`8787`, `on`, 1000), else undefined: "(none)" and the
 * like (unset), "lease / 3" or `FLOCK_LEASE_MS` (another setting's).
 */
function plainDefault(cell: string): string | undefined {
  const value = /^`([^`]+)`$/.exec(cell)?.[1] ?? (/^\d+$/.test(cell) ? cell : undefined);
  return value?.startsWith('FLOCK_') ? undefined : value;
}

/** README rows whose default follows another setting, so that no one value can be checked. */
const DERIVED_DEFAULTS = ['FLOCK_HEARTBEAT_MS'];

const README_TABLE = settingsTable('README.md');
const SCALE_TABLE = settingsTable('SCALE.md');
const sorted = (names: Iterable<string>): string[] => [...names].sort();

describe('settings tables against the code', () => {
  const read = variablesRead(sourceFiles(join(APP, 'src')));

  test('the variables src/ reads are the rows of the README and SCALE.md tables, each in one', () => {
    const tabled = [...README_TABLE.keys(), ...SCALE_TABLE.keys()];
    expect(tabled.filter((name) => README_TABLE.has(name) && SCALE_TABLE.has(name))).toEqual([]);
    expect(sorted(tabled)).toEqual(sorted([...read].filter((name) => !TEST_HOOKS.includes(name))));
    // The cluster's own (read by cluster/) are SCALE.md's rows; the README links there.
    expect(sorted(SCALE_TABLE.keys())).toEqual(sorted(variablesRead(sourceFiles(join(APP, 'src/cluster')))));
    for (const hook of TEST_HOOKS) {
      expect(read.has(hook), hook).toBe(true);
      expect(doc('TESTING.md'), hook).toContain(hook);
    }
  });

  test('every variable src/ names in a comment or message is one it reads', () => {
    const named = new Set<string>();
    for (const file of sourceFiles(join(APP, 'src'))) {
      for (const name of variablesNamed(readFileSync(file, 'utf8'))) named.add(name);
    }
    expect(sorted([...named].filter((name) => !read.has(name)))).toEqual([]);
  });

  test('every variable the operator docs name is read by the coordinator, its tests or the CLI', () => {
    const readers = variablesRead([
      ...sourceFiles(join(APP, 'src')),
      ...sourceFiles(join(APP, 'test')),
      ...sourceFiles(resolve(APP, '../../packages/client/src')),
    ]);
    const named = new Set<string>();
    for (const file of [...OPERATOR_DOCS, 'TESTING.md', '../../README.md']) {
      for (const name of variablesNamed(doc(file))) named.add(name);
    }
    expect(sorted([...named].filter((name) => !readers.has(name)))).toEqual([]);
    // DEPLOY.md says the README's table lists every variable it names; the CLI's are the CLI's.
    const cli = variablesRead(sourceFiles(resolve(APP, '../../packages/client/src')));
    const deploy = [...variablesNamed(doc('DEPLOY.md'))].filter((name) => !cli.has(name));
    expect(deploy.filter((name) => !README_TABLE.has(name))).toEqual([]);
  });

  test("the README's plain defaults are loadConfig's: setting one changes nothing", () => {
    const defaults = loadConfig({});
    let checked = 0;
    for (const [name, cell] of README_TABLE) {
      const value = plainDefault(cell);
      if (value === undefined) {
        // Not a value: unset ("(none)", "(dev key)", "(generated)") or derived, said so above.
        if (!DERIVED_DEFAULTS.includes(name)) expect(cell, name).toMatch(/^\(.+\)$/);
        continue;
      }
      expect(loadConfig({ [name]: value }), `${name}=${value}`).toEqual(defaults);
      checked += 1;
    }
    expect(checked).toBeGreaterThanOrEqual(45);
  });

  test("SCALE.md's plain defaults are the cluster's: setting one changes nothing", () => {
    const settings = (env: Record<string, string>): unknown => {
      const cluster = clusterFromEnv(env);
      return cluster === undefined ? 'sqlite' : { url: cluster.url, ...DEFAULT_CLUSTER, ...cluster.options };
    };
    const checked: string[] = [];
    for (const [name, cell] of SCALE_TABLE) {
      const value = plainDefault(cell);
      if (value === undefined) continue;
      const base = name === 'FLOCK_STORE' ? {} : { FLOCK_STORE: 'postgres://flock@db.example/flock' };
      expect(settings({ ...base, [name]: value }), `${name}=${value}`).toEqual(settings(base));
      checked.push(name);
    }
    expect(sorted(checked)).toEqual([
      'FLOCK_CLUSTER_BEAT_MS',
      'FLOCK_CLUSTER_SKEW_MS',
      'FLOCK_CLUSTER_STEAL_MS',
      'FLOCK_PG_POOL',
      'FLOCK_PG_SYNC_COMMIT',
      'FLOCK_STORE',
    ]);
  });
});

describe('metrics in the docs against /metrics', () => {
  let c: TestCoordinator;
  let exported: string[];
  beforeAll(async () => {
    c = await startTest();
    const text = await (await fetch(`${c.url}/metrics`)).text();
    exported = sorted(new Set([...text.matchAll(/^# TYPE (flock_\w+) /gm)].map((m) => m[1] as string)));
  });
  afterAll(() => c.stop());

  test("the README's Observability section lists exactly the exported flock_* metrics", () => {
    const readme = doc('README.md');
    const section = readme.slice(
      readme.indexOf('\n## Observability'),
      readme.indexOf('\n## Simulated volunteer'),
    );
    const listed = new Set([...section.matchAll(/\bflock_[a-z0-9_]+/g)].map((m) => m[0]));
    expect(exported.length).toBeGreaterThanOrEqual(18);
    expect(sorted(listed)).toEqual(exported);
  });

  test('every flock_* name in the operator docs and the alert rules is an exported metric', () => {
    const families = new Set(exported);
    for (const file of [...OPERATOR_DOCS, 'alerts/flock-rules.yml']) {
      for (const [name] of doc(file).matchAll(/\bflock_[a-z0-9_]+/g)) {
        const family = name.replace(/_(bucket|sum|count)$/, '');
        if (NOT_METRICS.has(name)) continue;
        expect(families.has(name) || families.has(family), `${file} names ${name}`).toBe(true);
      }
    }
  });
});
