// `flock map --library` as the README shows it, through the real bin, against a real coordinator
// and a real volunteer tab in Chromium: photos generated here are resized on the tab's wasm-vips,
// a progress line per task is printed, and each thumbnail is written under its photo's name and
// agrees with the Node reference (sharp: native libvips) under the method's pixel rule. Before
// that, the tab's first image job shows that a cold library load runs under its own allowance:
// the job's time limit (here far shorter than the load) starts once the library is loaded.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { outputsAgree, runReference } from '@flock/libraries/reference';
import { type Browser, expect, test } from '@playwright/test';
import sharp from 'sharp';
import { launchChromium } from '../support/chromium.ts';
import { openVolunteerTab } from '../support/volunteer-tab.ts';
import { Harness, KEY, ROOT, taskId } from './volunteer-harness.ts';

test.describe.configure({ mode: 'serial', timeout: 150_000 });

let harness: Harness;
let browser: Browser;
let dir: string;

test.beforeAll(async () => {
  harness = await Harness.start();
  browser = await launchChromium({ webgpu: false });
  await openVolunteerTab(browser, `${harness.url}/`);
  dir = await mkdtemp(join(tmpdir(), 'flock-lib-cli-'));
});

test.afterAll(async () => {
  await browser?.close();
  await harness?.close();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

/** A 640x480 photo-like JPEG: a gradient with a disc, different per index. */
async function photo(index: number): Promise<Buffer> {
  const [w, h] = [640, 480];
  const raw = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const i = (y * w + x) * 3;
      const inDisc = (x - 320 - index * 40) ** 2 + (y - 240) ** 2 < 120 ** 2;
      raw[i] = inDisc ? 230 : (x * 255) / w;
      raw[i + 1] = inDisc ? 40 + index * 50 : (y * 255) / h;
      raw[i + 2] = (index * 80 + x / 4) & 0xff;
    }
  return sharp(raw, { raw: { width: w, height: h, channels: 3 } })
    .jpeg({ quality: 90 })
    .toBuffer();
}

test('a cold library load does not count against the job’s time limit', async () => {
  const png = await sharp({ create: { width: 16, height: 16, channels: 3, background: '#808000' } })
    .png()
    .toBuffer();
  const id = taskId('lib-cold');
  await harness.submit({
    task_id: id,
    op: 'image.invert',
    module: { kind: 'library', permissions: { timeout_ms: 500 } },
    params: {},
    requirements: { min: { wasm: true } },
    inputs: [{ name: 'dot.png', content_type: 'image/png', inline_bytes: png.toString('base64') }],
  });
  await harness.waitFor(id, 'succeeded');
  const { metrics } = await harness.result(id);
  expect(metrics?.['library_warm']).toBe('0');
  // Fetching, checking and compiling 5 MiB of libvips took longer than the job may run (about
  // 700 ms here on a quiet box; the job itself gets 500 ms, room for its first, compiling call
  // when another test's browser shares the cores: at 300 ms a CI run's job timed out).
  expect(Number(metrics?.['library_ms'])).toBeGreaterThan(500);
});

test('flock map --library image.resize photos/*.jpg --out thumbs/ resizes each photo on the tab', async () => {
  const photos = join(dir, 'photos');
  const thumbs = join(dir, 'thumbs');
  await mkdir(photos);
  const files = ['beach.jpg', 'cat.jpg', 'dog.jpg'].map((name) => join(photos, name));
  for (const [i, file] of files.entries()) await writeFile(file, await photo(i));
  const { stdout, stderr } = await promisify(execFile)(
    'npx',
    [
      'flock',
      'map',
      '--library',
      'image.resize',
      '--params',
      '{"width":160}',
      '--campaign',
      'thumbs-1',
      ...files,
      '--out',
      thumbs,
    ],
    { cwd: ROOT, env: { ...process.env, FLOCK_URL: harness.url, FLOCK_API_KEY: KEY } },
  );
  expect(stderr).toBe('');
  expect(stdout).toBe(`${files.map((f, i) => `thumbs-1-${i}  succeeded  ${f}`).join('\n')}\n3/3 succeeded\n`);
  for (const file of files) {
    const name = file.slice(photos.length + 1);
    const got = await readFile(join(thumbs, name));
    expect(await sharp(got).metadata()).toMatchObject({ format: 'jpeg', width: 160, height: 120 });
    const want = await runReference('image.resize', { width: 160 }, [
      { name, contentType: 'image/jpeg', bytes: await readFile(file) },
    ]);
    expect(await outputsAgree('image.resize', [{ name, bytes: got }], want.outputs)).toBe(true);
  }
});

test('a misspelt param is a usage error before anything is sent', async () => {
  const run = promisify(execFile)(
    'npx',
    [
      'flock',
      'map',
      '--library',
      'image.resize',
      '--params',
      '{"widht":160}',
      join(dir, 'photos', 'cat.jpg'),
    ],
    { cwd: ROOT, env: { ...process.env, FLOCK_URL: harness.url, FLOCK_API_KEY: KEY } },
  );
  await expect(run).rejects.toMatchObject({
    code: 2,
    stderr: expect.stringContaining('--library image.resize: params.widht unknown parameter'),
  });
  const { body } = await harness.api<{ tasks: unknown[] }>('GET', '/v1/tasks?campaign_id=thumbs-1');
  expect(body.tasks).toHaveLength(3);
});
