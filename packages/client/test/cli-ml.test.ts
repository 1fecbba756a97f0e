// `flock model upload` and `flock map --library ml.*` against a real coordinator whose simulated
// volunteer runs ml by onnxruntime-node (the reference), fetching the model as a tab does: .npy
// inputs split into batches of rows with their TensorSpec, outputs joined back in row order.
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exampleValues, readNpy, writeNpy, zooFiles } from '@flock/libraries/models';
import { runReference } from '@flock/libraries/reference';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './support/run-cli.ts';
import { KEY, startTestCoordinator, type TestCoordinator } from './support/test-coordinator.ts';

let env: TestCoordinator;
let dir: string;
const CNN = zooFiles()['cnn.onnx']!;
const CNN_URI = `flock:sha256:${createHash('sha256').update(CNN).digest('hex')}`;
const ROWS = 10;
const IMAGES = exampleValues(ROWS * 28 * 28, 4);
const imageBytes = (from: number, to: number) =>
  new Uint8Array(IMAGES.buffer, from * 784 * 4, (to - from) * 784 * 4).slice();

beforeAll(async () => {
  env = await startTestCoordinator();
  dir = await mkdtemp(join(tmpdir(), 'flock-cli-ml-'));
  await writeFile(join(dir, 'cnn.onnx'), CNN);
  await writeFile(
    join(dir, 'digits.npy'),
    writeNpy({ dtype: 'float32', shape: [ROWS, 1, 28, 28] }, imageBytes(0, ROWS)),
  );
});

afterAll(async () => {
  await env?.close();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

const flock = (args: string[]) => runCli(args, { url: env.url, key: KEY });

/** The reference's outputs for all rows at once: what the joined batches must equal. */
async function reference(op: string, params: object) {
  const input = { name: 'image', contentType: 'application/octet-stream', bytes: imageBytes(0, ROWS) };
  const result = await runReference(
    op,
    params,
    [{ ...input, tensor: { dtype: 'float32', shape: [ROWS, 1, 28, 28] } }],
    {
      models: () => CNN,
    },
  );
  return result.outputs;
}

describe('flock and ONNX models', () => {
  it('model upload prints the uri; bytes that are no model exit 2 with INVALID_ARGUMENT', async () => {
    expect(await flock(['model', 'upload', join(dir, 'cnn.onnx')])).toEqual({
      code: 0,
      stdout: `${CNN_URI}\n`,
      stderr: '',
    });
    await writeFile(join(dir, 'junk.onnx'), 'not a model');
    const junk = await flock(['model', 'upload', join(dir, 'junk.onnx')]);
    expect(junk.code).toBe(2);
    expect(junk.stderr).toMatch(/^flock: INVALID_ARGUMENT: not an ONNX model: .* \(field: body\)\n$/);
    expect((await flock(['model', 'push', join(dir, 'cnn.onnx')])).code).toBe(2);
  });

  it('map --library ml.infer --batch 4 runs 3 tasks of 4, 4 and 2 rows and joins logits back in order', async () => {
    const out = join(dir, 'out');
    const run = await flock([
      'map',
      '--library',
      'ml.infer',
      '--params',
      JSON.stringify({ model: CNN_URI, execution: 'wasm' }),
      '--batch',
      '4',
      '--campaign',
      'cli-ml-1',
      '--out',
      out,
      join(dir, 'digits.npy'),
    ]);
    expect(run.stderr).toBe('');
    const file = join(dir, 'digits.npy');
    expect(run.stdout).toBe(
      [
        `cli-ml-1-0  succeeded  ${file}#0 (4 rows)`,
        `cli-ml-1-1  succeeded  ${file}#1 (4 rows)`,
        `cli-ml-1-2  succeeded  ${file}#2 (2 rows)`,
        '3/3 succeeded',
        '',
      ].join('\n'),
    );
    expect(run.code).toBe(0);
    // Each task's input: the rows' raw bytes with their TensorSpec, named after the file.
    const last = env.volunteer.assignments.find((a) => a.task_id === 'cli-ml-1-2')!;
    const input = last.envelope!.inputs![0]!;
    expect(input.name).toBe('digits');
    expect(input.tensor).toEqual({ dtype: 'float32', shape: [2, 1, 28, 28] });
    expect(input.inline_bytes).toEqual(imageBytes(8, 10));
    expect(await readdir(out)).toEqual(['digits.logits.npy']);
    const logits = readNpy(new Uint8Array(await readFile(join(out, 'digits.logits.npy'))), 'logits');
    expect(logits.dtype).toBe('float32');
    expect(logits.shape).toEqual([ROWS, 10]);
    const [want] = await reference('ml.infer', { model: CNN_URI });
    expect(want!.name).toBe('logits');
    const got = new Float32Array(logits.data.slice().buffer);
    const expected = new Float32Array(want!.bytes.slice().buffer);
    for (let i = 0; i < expected.length; i++) expect(Math.abs(got[i]! - expected[i]!)).toBeLessThan(1e-5);
  });

  it('map --library ml.classify joins classes.json into one array of all rows', async () => {
    const out = join(dir, 'classes');
    const run = await flock([
      'map',
      '--library',
      'ml.classify',
      '--params',
      JSON.stringify({ model: CNN_URI, top_k: 3 }),
      '--batch',
      '3',
      '--out',
      out,
      join(dir, 'digits.npy'),
    ]);
    expect(run.code).toBe(0);
    expect(run.stdout.endsWith('4/4 succeeded\n')).toBe(true);
    const rows = JSON.parse(await readFile(join(out, 'digits.classes.json'), 'utf8'));
    const [want] = await reference('ml.classify', { model: CNN_URI, top_k: 3 });
    const expected = JSON.parse(new TextDecoder().decode(want!.bytes));
    expect(rows).toHaveLength(ROWS);
    expect(rows.map((r: Array<{ label: string }>) => r.map((c) => c.label))).toEqual(
      expected.map((r: Array<{ label: string }>) => r.map((c) => c.label)),
    );
  });

  it('refuses --batch without an ml op, a bad --batch, and a file that is not .npy (exit 2)', async () => {
    await writeFile(join(dir, 'a.txt'), 'alpha');
    const params = JSON.stringify({ model: CNN_URI });
    const notMl = await flock([
      'map',
      '--library',
      'crypto.hash',
      '--params',
      '{"algorithms":["sha256"]}',
      '--batch',
      '2',
      join(dir, 'a.txt'),
    ]);
    expect(notMl.code).toBe(2);
    expect(notMl.stderr).toContain('--batch needs an ml.* op');
    const zero = await flock([
      'map',
      '--library',
      'ml.infer',
      '--params',
      params,
      '--batch',
      '0',
      join(dir, 'digits.npy'),
    ]);
    expect(zero.code).toBe(2);
    expect(zero.stderr).toContain('--batch must be an integer in 1..1000000, got "0"');
    const text = await flock(['map', '--library', 'ml.infer', '--params', params, join(dir, 'a.txt')]);
    expect(text.code).toBe(2);
    expect(text.stderr).toContain('a.txt is not an .npy file');
  });

  it('a model that was never uploaded is refused at submit: UNKNOWN_MODEL on params.model', async () => {
    const params = JSON.stringify({ model: `flock:sha256:${'ab'.repeat(32)}` });
    const run = await flock(['map', '--library', 'ml.infer', '--params', params, join(dir, 'digits.npy')]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('UNKNOWN_MODEL');
    expect(run.stderr).toContain('(field: params.model)');
  });
});
