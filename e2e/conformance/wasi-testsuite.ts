// Measures the tab's WASI against WebAssembly/wasi-testsuite (branch prod/testsuite-base) beside
// node:wasi: every wasip1 test runs as a WASI task in a real headless Chromium volunteer tab,
// connected to a real coordinator, and under node:wasi on the same binary; a test passes when its
// exit code and (where the suite gives one) its stdout match. Prints the per-language table and
// the tests where the two differ. Not part of `npm test`: the suite is not in this repository.
//
//   npx tsx e2e/conformance/wasi-testsuite.ts <suite dir> [--filter <name part>] [--verbose] [--tab-log]
//
// A test's `root` is packed as a tar (the CLI's --mount packing) mounted at `/` with `wasi_fs` on,
// args and env as given; a test without `root` runs without `wasi_fs`, so it has no preopens at
// all, as the suite's own runners give it. stdin is empty, as node:wasi's.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { packDirectory } from '../../packages/client/src/cli/mount-dirs.ts';
import { launchChromium } from '../support/chromium.ts';
import { openVolunteerTab } from '../support/volunteer-tab.ts';
import { Harness, taskId } from '../tests/volunteer-harness.ts';
import { runNodeWasi } from './node-wasi.ts';
import { LANGUAGES, loadCases, type Outcome, passes, type SuiteCase, verdict } from './suite-cases.ts';

/** How long one test may run in the tab (ms), and how long the whole batch may take. */
const TAB_TIMEOUT_MS = 60_000;
const BATCH_TIMEOUT_MS = 20 * 60_000;
const TERMINAL = new Set(['succeeded', 'failed', 'cancelled']);

/** The task envelope of `test` with its module already uploaded. */
async function envelope(test: SuiteCase, id: string, hash: string): Promise<Record<string, unknown>> {
  const inputs: Array<{ name: string; content_type: string; inline_bytes: string }> = [];
  const params: Record<string, unknown> = { args: test.args, env: test.env };
  if (test.root !== undefined) {
    // An empty first input: stdin is the first input's bytes, and the tar is not the program's stdin.
    inputs.push({ name: 'stdin', content_type: 'application/octet-stream', inline_bytes: '' });
    const tar = await packDirectory(test.root);
    inputs.push({
      name: 'root.tar',
      content_type: 'application/x-tar',
      inline_bytes: Buffer.from(tar).toString('base64'),
    });
    params['mounts'] = { '/': 'root.tar' };
  }
  return {
    task_id: id,
    op: 'wasi-testsuite',
    module: {
      kind: 'wasm',
      uri: `flock:${hash}`,
      hash,
      abi: 'wasi',
      permissions: { wasi_fs: test.root !== undefined, timeout_ms: TAB_TIMEOUT_MS },
    },
    requirements: { min: { wasm: true } },
    inputs,
    params,
  };
}

/** Submits every test to the tab at once and collects what each did. */
async function runInTab(harness: Harness, tests: SuiteCase[]): Promise<Map<SuiteCase, Outcome>> {
  const ids = new Map<SuiteCase, string>();
  for (const test of tests) {
    const bytes = new Uint8Array(await readFile(test.wasm));
    const hash = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    await harness.uploadModule(bytes, 'application/wasm');
    const id = taskId(`wts-${test.language}-${test.name}`.replace(/[^\w-]/g, '_'));
    await harness.submit(await envelope(test, id, hash));
    ids.set(test, id);
    console.error(`submitted ${ids.size}/${tests.length}: ${test.language}/${test.name}`);
  }
  const outcomes = new Map<SuiteCase, Outcome>();
  const end = Date.now() + BATCH_TIMEOUT_MS;
  while (outcomes.size < tests.length && Date.now() < end) {
    for (const [test, id] of ids) {
      if (outcomes.has(test)) continue;
      const view = await harness.task(id);
      if (!TERMINAL.has(view.state)) continue;
      const outcome = await tabOutcome(harness, id, view);
      outcomes.set(test, outcome);
      console.error(
        `tab ${outcomes.size}/${tests.length}: ${test.language}/${test.name} ${verdict(test, outcome)}`,
      );
    }
    if (outcomes.size < tests.length) await new Promise((r) => setTimeout(r, 250));
  }
  for (const test of tests) if (!outcomes.has(test)) outcomes.set(test, { error: 'not finished in time' });
  return outcomes;
}

async function tabOutcome(
  harness: Harness,
  id: string,
  view: Awaited<ReturnType<Harness['task']>>,
): Promise<Outcome> {
  if (view.state !== 'succeeded') {
    return { error: `${view.state} ${view.failure?.code ?? ''}: ${view.failure?.message ?? ''}` };
  }
  const result = await harness.result(id);
  const output = result.outputs?.find((o) => o.name === 'stdout');
  // An empty stdout comes back inline as no bytes at all.
  const bytes =
    output?.uri || output?.inline_bytes ? await harness.output(result, 'stdout') : new Uint8Array();
  const stdout = Buffer.from(bytes).toString('utf8');
  return { exitCode: Number(result.summary?.['exit_code']), stdout };
}

async function runNode(tests: SuiteCase[]): Promise<Map<SuiteCase, Outcome>> {
  const outcomes = new Map<SuiteCase, Outcome>();
  for (const test of tests) outcomes.set(test, await runNodeWasi(test));
  console.error(`node:wasi ran ${tests.length} tests`);
  return outcomes;
}

function report(
  tests: SuiteCase[],
  tab: Map<SuiteCase, Outcome>,
  node: Map<SuiteCase, Outcome>,
  verbose: boolean,
) {
  const rows: string[][] = [['language', 'tests', 'tab', 'node:wasi']];
  const count = (of: SuiteCase[], outcomes: Map<SuiteCase, Outcome>) =>
    String(of.filter((t) => passes(t, outcomes.get(t)!)).length);
  for (const language of LANGUAGES) {
    const of = tests.filter((t) => t.language === language);
    if (of.length > 0) rows.push([language, String(of.length), count(of, tab), count(of, node)]);
  }
  rows.push(['all', String(tests.length), count(tests, tab), count(tests, node)]);
  for (const row of rows) console.log(row.map((cell, i) => cell.padEnd(i === 0 ? 16 : 10)).join(''));
  console.log('');
  for (const test of tests) {
    const inTab = passes(test, tab.get(test)!);
    const inNode = passes(test, node.get(test)!);
    if (inTab === inNode && !verbose) continue;
    const mark = inTab === inNode ? (inTab ? 'both pass' : 'both fail') : inTab ? 'tab only' : 'node only';
    console.log(`${mark.padEnd(10)} ${test.language}/${test.name}`);
    if (!inTab) console.log(`  tab:  ${verdict(test, tab.get(test)!)}`);
    if (!inNode) console.log(`  node: ${verdict(test, node.get(test)!)}`);
  }
}

async function main(argv: string[]): Promise<void> {
  const suite = argv[0];
  if (suite === undefined || suite.startsWith('--')) {
    console.error('usage: wasi-testsuite.ts <suite dir> [--filter <name part>] [--verbose] [--tab-log]');
    process.exit(2);
  }
  const at = argv.indexOf('--filter');
  const tests = await loadCases(suite, at >= 0 ? (argv[at + 1] ?? '') : '');
  if (tests.length === 0) throw new Error(`no wasip1 tests under ${suite}`);
  const node = await runNode(tests);
  const harness = await Harness.start({ maxBodyBytes: 64 << 20 });
  const browser = await launchChromium({ webgpu: false });
  try {
    const tab = await openVolunteerTab(browser, `${harness.url}/`);
    if (argv.includes('--tab-log'))
      tab.page.on('console', (message) => console.error(`[tab] ${message.text()}`));
    report(tests, await runInTab(harness, tests), node, argv.includes('--verbose'));
  } finally {
    await browser.close();
    await harness.close();
  }
}

await main(process.argv.slice(2));
