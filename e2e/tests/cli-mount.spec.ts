// `flock map --wasm --mount /=./project` and `flock result --out` as the client README shows them,
// through the real bin, against a real coordinator and a real volunteer tab in Chromium: the CLI
// packs a local directory, the tab unpacks it at `/`, a C program walks it by relative paths and
// writes beside its inputs, and what it wrote comes back as a tree of files.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type Browser, expect, test } from '@playwright/test';
import { launchChromium } from '../support/chromium.ts';
import { openVolunteerTab } from '../support/volunteer-tab.ts';
import { Harness, KEY, ROOT } from './volunteer-harness.ts';

test.describe.configure({ mode: 'serial' });

let harness: Harness;
let browser: Browser;
let dir: string;

test.beforeAll(async () => {
  harness = await Harness.start();
  browser = await launchChromium({ webgpu: false });
  await openVolunteerTab(browser, `${harness.url}/`);
  dir = await mkdtemp(join(tmpdir(), 'flock-cli-mount-'));
});

test.afterAll(async () => {
  await browser?.close();
  await harness?.close();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

const flock = (args: string[]) =>
  promisify(execFile)('npx', ['flock', ...args], {
    cwd: ROOT,
    env: { ...process.env, FLOCK_URL: harness.url, FLOCK_API_KEY: KEY },
  });

test('a local directory mounted at / by flock map --mount is walked on the tab; result --out restores what it wrote', async () => {
  const project = join(dir, 'project');
  await mkdir(join(project, 'data/nested'), { recursive: true });
  await writeFile(join(project, 'config.txt'), 'mode=fast\n');
  await writeFile(join(project, 'data/a.txt'), 'alpha');
  await writeFile(join(project, 'data/b.bin'), '0123456789');
  await writeFile(join(project, 'data/log.txt'), 'start\n');
  const item = join(dir, 'item.txt');
  await writeFile(item, 'unused');
  const wasm = join(ROOT, 'apps/worker-web/build/fixtures/tree-walk.wasm');
  const mapped = await flock([
    'map',
    '--wasm',
    wasm,
    '--mount',
    `/=${project}`,
    '--params',
    '{"collect":["/"]}',
    '--campaign',
    'mount-1',
    item,
  ]);
  expect(mapped).toEqual({ stdout: `mount-1-0  succeeded  ${item}\n1/1 succeeded\n`, stderr: '' });
  const got = join(dir, 'got');
  const result = await flock(['result', 'mount-1-0', '--out', got]);
  expect(result.stderr).toBe('');
  expect((await readdir(got, { recursive: true })).sort()).toEqual([
    'data',
    'data/log.txt',
    'data/summary.txt',
    'results',
    'results/count.txt',
    'stdout',
  ]);
  expect(await readFile(join(got, 'stdout'), 'utf8')).toBe(
    'file a.txt 5\nfile b.bin 10\nfile log.txt 6\ndir nested\nconfig: mode=fast\n',
  );
  expect(await readFile(join(got, 'data/log.txt'), 'utf8')).toBe('start\nappended\n');
  expect(await readFile(join(got, 'data/summary.txt'), 'utf8')).toBe('a.txt 5\nb.bin 10\nlog.txt 6\n');
  expect(await readFile(join(got, 'results/count.txt'), 'utf8')).toBe('4\n');
});
