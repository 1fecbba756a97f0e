// ml.* in Node: the tab's runtime (onnxruntime-web's WASM provider, through LibraryHost with the
// tab's files) against the reference (onnxruntime-node) and against arithmetic done here by hand;
// typed errors for bad models and tensors; sessions kept by model hash.
import { createHash } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { checkLibraryCall, LibraryError } from '../src/index.ts';
import {
  exampleValues,
  mlpModel,
  OnnxFormatError,
  readNpy,
  readOnnxInfo,
  writeNpy,
  writeOnnx,
  zooFiles,
} from '../src/models/index.ts';
import { outputsAgree, runReference } from '../src/reference/index.ts';
import { LibraryHost, type LibraryInput, RUNTIMES, type RuntimeContext } from '../src/runtime/index.ts';
import { type NodeContext, nodeContext } from './support/node-context.ts';

const MODELS = zooFiles();
const hashOf = (bytes: Uint8Array) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
const uri = (file: string) => `flock:${hashOf(MODELS[file]!)}`;
const models = (hash: string) => Object.values(MODELS).find((b) => hashOf(b) === hash);

/** A context whose call names `file`; `bytes: false` as an executor that was handed it before. */
function ctxFor(file: string, bytes = true, hash?: string): NodeContext & { asked: number } {
  const model = MODELS[file]!;
  const ctx = {
    ...nodeContext('ml'),
    model: { hash: hash ?? hashOf(model), bytes: bytes ? model : undefined },
    asked: 0,
    needModel(): never {
      ctx.asked += 1;
      throw new LibraryError('INVALID_PARAMS', 'need the model', 'params.model');
    },
  };
  return ctx;
}

const f32 = (values: Float32Array) => new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
const tensorInput = (name: string, values: Float32Array, shape: number[]): LibraryInput => ({
  name,
  contentType: 'application/octet-stream',
  bytes: f32(values),
  tensor: { dtype: 'float32', shape },
});
const floats = (bytes: Uint8Array) => new Float32Array(bytes.slice().buffer);
const jsonOf = (bytes: Uint8Array) => JSON.parse(new TextDecoder().decode(bytes));

const host = new LibraryHost(RUNTIMES);
const run = (op: string, params: object, inputs: LibraryInput[], ctx: RuntimeContext) =>
  host.run(op, params, inputs, ctx);

async function errorOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof LibraryError) return `${err.code} ${err.field ?? '-'}`;
    throw err;
  }
  return 'no error';
}

/** The MLP by hand: relu(x·W1 + b1)·W2 + b2, in float64. */
function mlpByHand(x: Float32Array, n: number): Float32Array {
  const init = Object.fromEntries(mlpModel().initializers.map((t) => [t.name, t.float32!]));
  const layer = (input: Float64Array, w: Float32Array, b: Float32Array, inDim: number, outDim: number) => {
    const out = new Float64Array(n * outDim);
    for (let r = 0; r < n; r++)
      for (let j = 0; j < outDim; j++) {
        let sum = b[j]!;
        for (let k = 0; k < inDim; k++) sum += input[r * inDim + k]! * w[k * outDim + j]!;
        out[r * outDim + j] = sum;
      }
    return out;
  };
  const hidden = layer(Float64Array.from(x), init['l1.w']!, init['l1.b']!, 64, 128).map((v) =>
    Math.max(0, v),
  );
  return Float32Array.from(layer(hidden, init['l2.w']!, init['l2.b']!, 128, 32));
}

const digits = exampleValues(3 * 784, 7);
const image = tensorInput('image', digits, [3, 1, 28, 28]);

describe('ml.infer', () => {
  test('the MLP in the tab equals the arithmetic done by hand and the reference (cold load, then warm)', async () => {
    const x = exampleValues(5 * 64, 3);
    const ctx = ctxFor('mlp.onnx');
    const params = { model: uri('mlp.onnx') };
    const { outputs, summary } = await run('ml.infer', params, [tensorInput('features', x, [5, 64])], ctx);
    expect(ctx.fetched).toEqual(['onnxruntime-web/dist/ort-wasm-simd-threaded.asyncify.wasm']);
    expect(summary).toEqual({ batch: '5', execution_provider: 'wasm' });
    expect(outputs.map((o) => [o.name, o.contentType, o.tensor])).toEqual([
      ['embedding', 'application/octet-stream', { dtype: 'float32', shape: [5, 32] }],
    ]);
    const got = floats(outputs[0]!.bytes);
    const want = mlpByHand(x, 5);
    for (let i = 0; i < want.length; i++) expect(Math.abs(got[i]! - want[i]!)).toBeLessThan(1e-5);

    const reference = await runReference('ml.infer', params, [tensorInput('features', x, [5, 64])], {
      models,
    });
    expect(reference.summary?.['execution_provider']).toBe('onnxruntime-node');
    expect(await outputsAgree('ml.infer', outputs, reference.outputs)).toBe(true);
    // Warm: the library is not fetched again.
    await run('ml.infer', params, [tensorInput('features', x, [5, 64])], ctx);
    expect(ctx.fetched).toHaveLength(1);
  });

  test('inputs bind by name; outputs can be chosen; an .npy input carries its own dtype and shape', async () => {
    const a = Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8]);
    const b = Float32Array.from([0.5, 0.5, 2, 2, -1, 0, 1, 3]);
    const ctx = ctxFor('pair.onnx');
    const npyB = {
      name: 'b.npy',
      contentType: 'application/x-npy',
      bytes: writeNpy({ dtype: 'float32', shape: [2, 4] }, f32(b)),
    };
    const both = await run('ml.infer', { model: uri('pair.onnx') }, [npyB, tensorInput('a', a, [2, 4])], ctx);
    expect(both.outputs.map((o) => o.name)).toEqual(['sum', 'product']);
    expect([...floats(both.outputs[0]!.bytes)]).toEqual([1.5, 2.5, 5, 6, 4, 6, 8, 11]);
    expect([...floats(both.outputs[1]!.bytes)]).toEqual([0.5, 1, 6, 8, -5, 0, 7, 24]);
    const one = await run(
      'ml.infer',
      { model: uri('pair.onnx'), outputs: ['product'] },
      [tensorInput('a', a, [2, 4]), tensorInput('b', b, [2, 4])],
      ctx,
    );
    expect(one.outputs.map((o) => o.name)).toEqual(['product']);
  });

  test('the CNN in the tab agrees with onnxruntime-node within the stated tolerance', async () => {
    const params = { model: uri('cnn.onnx') };
    const tab = await run('ml.infer', params, [image], ctxFor('cnn.onnx'));
    const reference = await runReference('ml.infer', params, [image], { models });
    expect(tab.outputs[0]!.tensor).toEqual({ dtype: 'float32', shape: [3, 10] });
    expect(await outputsAgree('ml.infer', tab.outputs, reference.outputs)).toBe(true);
    // A volunteer's output off by 1e-2 in one element does not agree.
    const bent = floats(tab.outputs[0]!.bytes);
    bent[4]! += 1e-2;
    expect(
      await outputsAgree('ml.infer', [{ ...tab.outputs[0]!, bytes: f32(bent) }], reference.outputs),
    ).toBe(false);
  });
});

describe('ml.embed and ml.classify', () => {
  test('embed returns unit-length rows of the chosen output, or the raw rows with normalize false', async () => {
    const x = exampleValues(4 * 64, 11);
    const ctx = ctxFor('mlp.onnx');
    const unit = await run(
      'ml.embed',
      { model: uri('mlp.onnx') },
      [tensorInput('features', x, [4, 64])],
      ctx,
    );
    expect(unit.outputs[0]!.tensor).toEqual({ dtype: 'float32', shape: [4, 32] });
    const rows = floats(unit.outputs[0]!.bytes);
    for (let r = 0; r < 4; r++) {
      const norm = Math.hypot(...rows.subarray(r * 32, r * 32 + 32));
      expect(Math.abs(norm - 1)).toBeLessThan(1e-6);
    }
    const raw = await run(
      'ml.embed',
      { model: uri('mlp.onnx'), normalize: false },
      [tensorInput('features', x, [4, 64])],
      ctx,
    );
    const want = mlpByHand(x, 4);
    expect(Math.abs(floats(raw.outputs[0]!.bytes)[5]! - want[5]!)).toBeLessThan(1e-5);
  });

  test('classify ranks the softmax of the logits, names classes from the model metadata, and agrees with the reference', async () => {
    const params = { model: uri('cnn.onnx'), top_k: 3 };
    const tab = await run('ml.classify', params, [image], ctxFor('cnn.onnx'));
    const infer = await run('ml.infer', { model: uri('cnn.onnx') }, [image], ctxFor('cnn.onnx'));
    const logits = floats(infer.outputs[0]!.bytes);
    const classes = jsonOf(tab.outputs[0]!.bytes) as Array<
      Array<{ index: number; label: string; score: number }>
    >;
    expect(tab.outputs.map((o) => [o.name, o.contentType])).toEqual([['classes.json', 'application/json']]);
    expect(classes).toHaveLength(3);
    for (const [r, row] of classes.entries()) {
      const scores = Array.from(logits.subarray(r * 10, r * 10 + 10));
      const best = scores.indexOf(Math.max(...scores));
      expect(row).toHaveLength(3);
      expect(row[0]!.index).toBe(best);
      expect(row[0]!.label).toBe(
        ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine'][best],
      );
      const total = scores.reduce((sum, s) => sum + Math.exp(s), 0);
      expect(Math.abs(row[0]!.score - Math.exp(scores[best]!) / total)).toBeLessThan(1e-6);
      expect(row[0]!.score).toBeGreaterThanOrEqual(row[1]!.score);
    }
    const reference = await runReference('ml.classify', params, [image], { models });
    expect(await outputsAgree('ml.classify', tab.outputs, reference.outputs)).toBe(true);
    const relabelled = await run(
      'ml.classify',
      { ...params, labels: Array.from({ length: 10 }, (_, i) => `c${i}`) },
      [image],
      ctxFor('cnn.onnx'),
    );
    expect(jsonOf(relabelled.outputs[0]!.bytes)[0][0].label).toBe(`c${classes[0]![0]!.index}`);
    expect(await outputsAgree('ml.classify', relabelled.outputs, reference.outputs)).toBe(false);
  });
});

describe('bad models and tensors get typed errors, and the runtime serves the next job', () => {
  test('tensors that do not fit the model', async () => {
    const ctx = ctxFor('pair.onnx');
    const a = tensorInput('a', new Float32Array(8), [2, 4]);
    const model = uri('pair.onnx');
    expect(
      await errorOf(run('ml.infer', { model }, [a, tensorInput('c', new Float32Array(8), [2, 4])], ctx)),
    ).toBe('TENSOR_MISMATCH inputs[1]');
    expect(await errorOf(run('ml.infer', { model }, [a], ctx))).toBe('TENSOR_MISMATCH inputs');
    expect(
      await errorOf(run('ml.infer', { model }, [a, tensorInput('b', new Float32Array(8), [4, 2])], ctx)),
    ).toBe('TENSOR_MISMATCH inputs[1]');
    const ints = {
      name: 'b',
      contentType: '',
      bytes: new Uint8Array(32),
      tensor: { dtype: 'int32' as const, shape: [2, 4] },
    };
    expect(await errorOf(run('ml.infer', { model }, [a, ints], ctx))).toBe('TENSOR_MISMATCH inputs[1]');
    expect(
      await errorOf(
        run('ml.infer', { model }, [a, { ...ints, tensor: { dtype: 'float32', shape: [2, 5] } }], ctx),
      ),
    ).toBe('INVALID_INPUT inputs[1]');
    expect(
      await errorOf(
        run('ml.infer', { model }, [a, { name: 'b', contentType: '', bytes: new Uint8Array(32) }], ctx),
      ),
    ).toBe('INVALID_INPUT inputs[1]');
    expect(
      await errorOf(
        run(
          'ml.infer',
          { model, outputs: ['nope'] },
          [a, tensorInput('b', new Float32Array(8), [2, 4])],
          ctx,
        ),
      ),
    ).toBe('TENSOR_MISMATCH params.outputs');
    // After all of that, a good call.
    const ok = await run(
      'ml.infer',
      { model },
      [a, tensorInput('b', Float32Array.from([1, 1, 1, 1, 2, 2, 2, 2]), [2, 4])],
      ctx,
    );
    expect([...floats(ok.outputs[0]!.bytes)]).toEqual([1, 1, 1, 1, 2, 2, 2, 2]);
  });

  test('models the runtime cannot run, and a model past the input limit', async () => {
    const x = tensorInput('x', new Float32Array(8), [2, 4]);
    const unsupported = ctxFor('unsupported-op.onnx');
    const params = { model: uri('unsupported-op.onnx') };
    await expect(run('ml.infer', params, [x], unsupported)).rejects.toThrow(/operator FlockNoSuchOp/);
    expect(await errorOf(run('ml.infer', params, [x], unsupported))).toBe('UNSUPPORTED_OP params.model');
    const garbage = {
      ...nodeContext('ml'),
      model: { hash: `sha256:${'0'.repeat(64)}`, bytes: new Uint8Array([8, 1, 1, 2, 3]) },
    };
    expect(await errorOf(run('ml.infer', { model: `flock:sha256:${'0'.repeat(64)}` }, [x], garbage))).toBe(
      'INVALID_MODEL params.model',
    );
    const small = { ...ctxFor('cnn.onnx'), limits: { ...nodeContext('ml').limits, maxInputBytes: 40_000 } };
    expect(await errorOf(run('ml.infer', { model: uri('cnn.onnx') }, [image], small))).toBe(
      'INPUT_TOO_LARGE params.model',
    );
    expect(
      await errorOf(
        run('ml.infer', { model: uri('cnn.onnx'), execution: 'webgpu' }, [image], ctxFor('cnn.onnx')),
      ),
    ).toBe('DEVICE_LOST -');
    const ok = await run('ml.infer', { model: uri('cnn.onnx') }, [image], ctxFor('cnn.onnx'));
    expect(ok.outputs[0]!.tensor?.shape).toEqual([3, 10]);
  });

  test('a session is kept by the model hash: no bytes needed when warm, asked for when not', async () => {
    const x = tensorInput('features', exampleValues(64, 5), [1, 64]);
    await run('ml.infer', { model: uri('mlp.onnx') }, [x], ctxFor('mlp.onnx'));
    const warm = ctxFor('mlp.onnx', false);
    await run('ml.infer', { model: uri('mlp.onnx') }, [x], warm);
    expect(warm.asked).toBe(0);
    const cold = ctxFor('mlp.onnx', false, `sha256:${'1'.repeat(64)}`);
    expect(await errorOf(run('ml.infer', { model: `flock:sha256:${'1'.repeat(64)}` }, [x], cold))).toBe(
      'INVALID_PARAMS params.model',
    );
    expect(cold.asked).toBe(1);
  });

  test('a warm executor, not sent the model again, still counts it against the input limit', async () => {
    const x = tensorInput('features', exampleValues(64, 5), [1, 64]);
    const limits = { ...nodeContext('ml').limits, maxInputBytes: MODELS['mlp.onnx']!.byteLength };
    await run('ml.infer', { model: uri('mlp.onnx') }, [x], ctxFor('mlp.onnx'));
    // Cold (bytes handed over) and warm (the session kept) refuse alike.
    for (const bytes of [true, false])
      expect(
        await errorOf(
          run('ml.infer', { model: uri('mlp.onnx') }, [x], { ...ctxFor('mlp.onnx', bytes), limits }),
        ),
      ).toBe('INPUT_TOO_LARGE params.model');
    const roomy = { ...limits, maxInputBytes: limits.maxInputBytes + x.bytes.byteLength };
    const ok = await run('ml.infer', { model: uri('mlp.onnx') }, [x], {
      ...ctxFor('mlp.onnx', false),
      limits: roomy,
    });
    expect(ok.outputs[0]!.tensor?.shape).toEqual([1, 32]);
  });

  test('params: the model must be a flock:sha256 uri, execution one of three', () => {
    const codeOf = (params: object) => {
      try {
        checkLibraryCall('ml.infer', params, 1);
        return 'ok';
      } catch (err) {
        return `${(err as LibraryError).code} ${(err as LibraryError).field}`;
      }
    };
    expect(codeOf({})).toBe('INVALID_PARAMS params.model');
    expect(codeOf({ model: 'https://hub.example/model.onnx' })).toBe('INVALID_PARAMS params.model');
    expect(codeOf({ model: uri('cnn.onnx'), execution: 'cuda' })).toBe('INVALID_PARAMS params.execution');
    expect(codeOf({ model: uri('cnn.onnx') })).toBe('ok');
  });
});

describe('.npy', () => {
  test('writeNpy and readNpy round-trip, and what numpy writes is read', () => {
    const data = f32(Float32Array.from([1, 2, 3, 4, 5, 6]));
    const file = writeNpy({ dtype: 'float32', shape: [2, 3] }, data);
    expect((file.byteLength - data.byteLength) % 64).toBe(0);
    const back = readNpy(file, 'inputs[0]');
    expect([back.dtype, back.shape, [...back.data]]).toEqual(['float32', [2, 3], [...data]]);
    // np.save(f, np.arange(3, dtype='<i8')): header as numpy 1.26 writes it.
    const header = "{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }";
    const padded = `${header}${' '.repeat(63 - ((10 + header.length) % 64))}\n`;
    const numpy = new Uint8Array([
      0x93,
      ...new TextEncoder().encode('NUMPY'),
      1,
      0,
      padded.length,
      0,
      ...new TextEncoder().encode(padded),
      ...new Uint8Array(new BigInt64Array([0n, 1n, 2n]).buffer),
    ]);
    expect(readNpy(numpy, 'x')).toMatchObject({ dtype: 'int64', shape: [3] });
    const fortran = new TextEncoder().encode(padded.replace('False', 'True '));
    const bad = new Uint8Array([
      0x93,
      ...new TextEncoder().encode('NUMPY'),
      1,
      0,
      fortran.length,
      0,
      ...fortran,
      ...new Uint8Array(24),
    ]);
    expect(() => readNpy(bad, 'x')).toThrow(/Fortran order/);
    expect(() => readNpy(file.subarray(0, file.byteLength - 4), 'x')).toThrow(
      /needs 24 bytes of data, has 20/,
    );
  });
});

describe('reading an ONNX file without a runtime', () => {
  test('metadata, opset and the largest weight tensor; what is not ONNX is refused', () => {
    const info = readOnnxInfo(MODELS['cnn.onnx']!);
    expect(info.irVersion).toBe(8);
    expect(info.opset).toBe(13);
    expect(JSON.parse(info.metadata['labels']!)).toHaveLength(10);
    // fc.w: 784 × 10 float32.
    expect(info.largestTensorBytes).toBe(784 * 10 * 4);
    expect(readOnnxInfo(MODELS['pair.onnx']!).largestTensorBytes).toBe(0);
    expect(() => readOnnxInfo(new TextEncoder().encode('<html>not a model</html>'))).toThrow(OnnxFormatError);
    expect(() => readOnnxInfo(new Uint8Array([8, 8]))).toThrow('not an ONNX model: no graph');
  });
});

describe('ml.classify on many classes', () => {
  test('a 200,000-class output is ranked: no spread of its scores into one call, which overflows the JS stack', async () => {
    const classes = 200_000;
    const bytes = writeOnnx({
      name: 'wide',
      inputs: [{ name: 'x', dtype: 'float32', shape: ['N', classes] }],
      outputs: [{ name: 'y', dtype: 'float32', shape: ['N', classes] }],
      initializers: [],
      nodes: [{ op: 'Identity', inputs: ['x'], outputs: ['y'] }],
    });
    const hash = hashOf(bytes);
    const ctx = { ...nodeContext('ml'), model: { hash, bytes } };
    const x = new Float32Array(classes);
    x[177_777] = 5;
    const { outputs } = await run(
      'ml.classify',
      { model: `flock:${hash}`, top_k: 2 },
      [tensorInput('x', x, [1, classes])],
      ctx,
    );
    const [row] = jsonOf(outputs[0]!.bytes) as Array<Array<{ index: number; label: string }>>;
    expect(row!.map((c) => [c.index, c.label])).toEqual([
      [177_777, '177777'],
      [0, '0'],
    ]);
  });
});
