// The README's quick start as a newcomer follows it: `npm start` (scripts/start.sh: setup, build
// the shaders' WASM kernels and the pages, start the coordinator) with a fresh data dir on a free
// port; open the URL it prints, press Start; submit a demo task with the printed dev key through
// the CLI the README shows (`npx flock submit envelope.json --wait`); the result is right.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect, test } from '../support/flock-test.ts';
import {
  builtinEnvelope,
  measureAgainstReference,
  type ResultJson,
  referenceCalls,
} from '../support/reference-ops.ts';
import { CoordinatorProcess, freePort, ROOT } from '../support/spawned-coordinator.ts';
import { openVolunteerTab, type VolunteerTab } from '../support/volunteer-tab.ts';

let workDir: string;
let started: CoordinatorProcess | undefined;
let tab: VolunteerTab | undefined;

test.beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'flock-quickstart-e2e-'));
});

test.afterAll(async () => {
  await tab?.context.close();
  await started?.kill('SIGTERM');
  await rm(workDir, { recursive: true, force: true });
});

test('npm start on a fresh data dir, open the printed URL, complete a demo task', async ({ browser }) => {
  test.setTimeout(180_000);
  const port = await freePort();
  const dataDir = join(workDir, 'data');
  expect(existsSync(dataDir)).toBe(false);
  // What `npm start` runs; bash execs the coordinator at the end, so this pid is the server's.
  started = CoordinatorProcess.spawn('bash', ['scripts/start.sh'], {
    FLOCK_PORT: String(port),
    FLOCK_DATA: dataDir,
  });
  const { url, devKey } = await started.banner(150_000);
  expect(url).toBe(`http://127.0.0.1:${port}`);
  expect(devKey).toMatch(/^\S{16,}$/);
  expect(started.stdout).toContain(`  volunteer page  ${url}/\n`);
  expect(started.stdout).toContain(`  dashboard       ${url}/dashboard/\n`);
  expect(existsSync(join(dataDir, 'flock.db'))).toBe(true);

  // The volunteer page at the printed URL, Start pressed as a person would.
  tab = await openVolunteerTab(browser, `${url}/`);

  const call = referenceCalls()[0]!;
  const envelopePath = join(workDir, 'envelope.json');
  await writeFile(envelopePath, JSON.stringify(builtinEnvelope('quickstart-demo', call, { webgpu: true })));
  const cli = await promisify(execFile)('npx', ['flock', 'submit', envelopePath, '--wait'], {
    cwd: ROOT,
    env: { ...process.env, FLOCK_URL: url, FLOCK_API_KEY: devKey ?? '' },
    // A CLI that never returns fails here with what it printed, not at the test's timeout.
    timeout: 60_000,
  }).catch(async (error: Error & { stdout?: string; stderr?: string }) => {
    const view = await fetch(`${url}/v1/tasks/quickstart-demo`, {
      headers: { Authorization: `Bearer ${devKey}` },
    });
    throw new Error(
      `flock submit --wait: ${error.message}\nstdout: ${error.stdout}\nstderr: ${error.stderr}\n` +
        `task view: ${view.status} ${await view.text()}\ncoordinator: ${started?.stdout}`,
    );
  });
  console.log(`quickstart: flock submit --wait printed: ${cli.stdout.trim()}`);
  expect(cli.stdout).toMatch(/^quickstart-demo {2}succeeded {2}op=saxpy {2}module=builtin$/m);
  expect(cli.stdout).toMatch(
    new RegExp(`^attempt 1 {2}worker ${tab.workerId} {2}succeeded {2}\\d+ ms$`, 'm'),
  );

  const response = await fetch(`${url}/v1/tasks/quickstart-demo/result`, {
    headers: { Authorization: `Bearer ${devKey}` },
  });
  expect(response.status).toBe(200);
  const result = (await response.json()) as ResultJson;
  expect(result.executor).toBe('builtin:wgsl');
  const error = await measureAgainstReference(call, result);
  expect(error.ok, `${call.op}: ${error.metric} ${error.value} > ${error.bound}`).toBe(true);
  await expect(tab.page.locator('#last-task')).toHaveText('quickstart-demo: ok (builtin:wgsl)');
});
