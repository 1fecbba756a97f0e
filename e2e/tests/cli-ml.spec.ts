// The README's ML example through the real bin, against a real coordinator and a real volunteer
// tab in Chromium (WASM provider): `npm run models` writes cnn.onnx and digits.npy, `flock model
// upload` prints the model's uri, and `flock map --library ml.infer --batch 32 digits.npy --out`
// runs one task per 32 rows on the tab's onnxruntime-web and writes one [256, 10] logits array
// back in row order, within ml.infer's bounds of onnxruntime-node over all rows at once; then
// `ml.classify` writes one classes.json of 256 rows.
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { getMethod } from '@flock/libraries';
import { readNpy } from '@flock/libraries/models';
import { runReference } from '@flock/libraries/reference';
import { type Browser, expect, test } from '@playwright/test';
import { launchChromium } from '../support/chromium.ts';
import { openVolunteerTab } from '../support/volunteer-tab.ts';
import { Harness, KEY, ROOT } from './volunteer-harness.ts';

test.describe.configure({ mode: 'serial', timeout: 180_000 });

const TOLERANCE = getMethod('ml.infer').compare as { kind: 'tensors'; atol: number; rtol: number };
let harness: Harness;
let browser: Browser;
let dir: string;
let uri: string;

const run = (command: string, args: string[]) =>
  promisify(execFile)(command, args, {
    cwd: ROOT,
    env: { ...process.env, FLOCK_URL: harness.url, FLOCK_API_KEY: KEY },
  });

test.beforeAll(async () => {
  harness = await Harness.start();
  browser = await launchChromium({ webgpu: false });
  await openVolunteerTab(browser, `${harness.url}/`);
  dir = await mkdtemp(join(tmpdir(), 'flock-cli-ml-'));
});

test.afterAll(async () => {
  await browser?.close();
  await harness?.close();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

test('npm run models writes the example models and digits.npy; flock model upload prints the uri', async () => {
  await run('npm', ['run', '--silent', 'models', '--', dir]);
  expect((await readdir(dir)).sort()).toEqual([
    'cnn.onnx',
    'digits.npy',
    'mlp.onnx',
    'pair.onnx',
    'unsupported-op.onnx',
  ]);
  const digits = readNpy(new Uint8Array(await readFile(join(dir, 'digits.npy'))), 'digits');
  expect([digits.dtype, digits.shape]).toEqual(['float32', [256, 1, 28, 28]]);
  const { stdout, stderr } = await run('npx', ['flock', 'model', 'upload', join(dir, 'cnn.onnx')]);
  expect(stderr).toBe('');
  expect(stdout).toMatch(/^flock:sha256:[0-9a-f]{64}\n$/);
  uri = stdout.trim();
});

test('flock map --library ml.infer --batch 32 digits.npy --out out/ joins the tab’s logits in order', async () => {
  const out = join(dir, 'out');
  const file = join(dir, 'digits.npy');
  const { stdout, stderr } = await run('npx', [
    'flock',
    'map',
    '--library',
    'ml.infer',
    '--params',
    JSON.stringify({ model: uri }),
    '--batch',
    '32',
    '--campaign',
    'digits-1',
    file,
    '--out',
    out,
  ]);
  expect(stderr).toBe('');
  const lines = Array.from({ length: 8 }, (_, i) => `digits-1-${i}  succeeded  ${file}#${i} (32 rows)`);
  expect(stdout).toBe(`${lines.join('\n')}\n8/8 succeeded\n`);
  const result = await harness.result('digits-1-3');
  expect(result.summary?.['execution_provider']).toBe('wasm');
  expect(await readdir(out)).toEqual(['digits.logits.npy']);
  const logits = readNpy(new Uint8Array(await readFile(join(out, 'digits.logits.npy'))), 'logits');
  expect([logits.dtype, logits.shape]).toEqual(['float32', [256, 10]]);
  const digits = readNpy(new Uint8Array(await readFile(file)), 'digits');
  const [want] = (
    await runReference(
      'ml.infer',
      { model: uri },
      [{ name: 'image', contentType: 'application/octet-stream', bytes: digits.data, tensor: digits }],
      { models: async () => new Uint8Array(await readFile(join(dir, 'cnn.onnx'))) },
    )
  ).outputs;
  const got = new Float32Array(logits.data.slice().buffer);
  const expected = new Float32Array(want!.bytes.slice().buffer);
  expect(got.length).toBe(expected.length);
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    const bound = TOLERANCE.atol + TOLERANCE.rtol * Math.max(Math.abs(got[i]!), Math.abs(expected[i]!));
    worst = Math.max(worst, Math.abs(got[i]! - expected[i]!) / bound);
  }
  expect(worst).toBeLessThanOrEqual(1);
});

test('flock map --library ml.classify writes one classes.json of every row', async () => {
  const out = join(dir, 'classes');
  const { stdout } = await run('npx', [
    'flock',
    'map',
    '--library',
    'ml.classify',
    '--params',
    JSON.stringify({ model: uri, top_k: 3 }),
    '--batch',
    '64',
    join(dir, 'digits.npy'),
    '--out',
    out,
  ]);
  expect(stdout.endsWith('4/4 succeeded\n')).toBe(true);
  const rows = JSON.parse(await readFile(join(out, 'digits.classes.json'), 'utf8')) as Array<
    Array<{ index: number; label: string; score: number }>
  >;
  expect(rows).toHaveLength(256);
  for (const row of rows) {
    expect(row).toHaveLength(3);
    expect(row[0]!.score).toBeGreaterThanOrEqual(row[1]!.score);
    expect(typeof row[0]!.label).toBe('string');
  }
});
