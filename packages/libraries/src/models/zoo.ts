// The ONNX models of the tests, the benches and the README's example, built from source with
// deterministic weights (a seeded generator): the same bytes, and so the same sha256, every time.
import { type Initializer, type OnnxModel, writeOnnx } from './onnx-writer.ts';

/** mulberry32: a small seeded generator, uniform in [0, 1). */
function generator(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Weights uniform in ±1/sqrt(fanIn) (a Glorot-like scale keeps activations in range). */
function weights(name: string, dims: number[], fanIn: number, next: () => number): Initializer {
  const count = dims.reduce((a, b) => a * b, 1);
  const bound = 1 / Math.sqrt(fanIn);
  const values = new Float32Array(count);
  for (let i = 0; i < count; i++) values[i] = (next() * 2 - 1) * bound;
  return { name, dims, float32: values };
}

/** The labels the CNN's metadata carries (`labels`, a JSON array), for `ml.classify`. */
export const CNN_LABELS = [
  'zero',
  'one',
  'two',
  'three',
  'four',
  'five',
  'six',
  'seven',
  'eight',
  'nine',
] as const;

/**
 * A small CNN classifier: `image` float32 [N,1,28,28] → Conv 8×3×3 → Relu → MaxPool 2 → Conv
 * 16×3×3 → Relu → MaxPool 2 → Flatten → Gemm 784→10 → `logits` float32 [N,10].
 */
export function cnnModel(): OnnxModel {
  const next = generator(0xf10c);
  return {
    name: 'flock-cnn',
    inputs: [{ name: 'image', dtype: 'float32', shape: ['N', 1, 28, 28] }],
    outputs: [{ name: 'logits', dtype: 'float32', shape: ['N', 10] }],
    initializers: [
      weights('conv1.w', [8, 1, 3, 3], 9, next),
      weights('conv1.b', [8], 9, next),
      weights('conv2.w', [16, 8, 3, 3], 72, next),
      weights('conv2.b', [16], 72, next),
      weights('fc.w', [784, 10], 784, next),
      weights('fc.b', [10], 784, next),
    ],
    nodes: [
      {
        op: 'Conv',
        inputs: ['image', 'conv1.w', 'conv1.b'],
        outputs: ['c1'],
        attributes: { pads: [1, 1, 1, 1] },
      },
      { op: 'Relu', inputs: ['c1'], outputs: ['r1'] },
      {
        op: 'MaxPool',
        inputs: ['r1'],
        outputs: ['p1'],
        attributes: { kernel_shape: [2, 2], strides: [2, 2] },
      },
      {
        op: 'Conv',
        inputs: ['p1', 'conv2.w', 'conv2.b'],
        outputs: ['c2'],
        attributes: { pads: [1, 1, 1, 1] },
      },
      { op: 'Relu', inputs: ['c2'], outputs: ['r2'] },
      {
        op: 'MaxPool',
        inputs: ['r2'],
        outputs: ['p2'],
        attributes: { kernel_shape: [2, 2], strides: [2, 2] },
      },
      { op: 'Flatten', inputs: ['p2'], outputs: ['flat'], attributes: { axis: 1 } },
      { op: 'Gemm', inputs: ['flat', 'fc.w', 'fc.b'], outputs: ['logits'] },
    ],
    metadata: { labels: JSON.stringify(CNN_LABELS), description: 'Flock test CNN (random weights)' },
  };
}

/**
 * A small MLP embedder: `features` float32 [N,64] → Gemm 64→128 → Relu → Gemm 128→32 →
 * `embedding` float32 [N,32].
 */
export function mlpModel(): OnnxModel {
  const next = generator(0xe111);
  return {
    name: 'flock-mlp',
    inputs: [{ name: 'features', dtype: 'float32', shape: ['N', 64] }],
    outputs: [{ name: 'embedding', dtype: 'float32', shape: ['N', 32] }],
    initializers: [
      weights('l1.w', [64, 128], 64, next),
      weights('l1.b', [128], 64, next),
      weights('l2.w', [128, 32], 128, next),
      weights('l2.b', [32], 128, next),
    ],
    nodes: [
      { op: 'Gemm', inputs: ['features', 'l1.w', 'l1.b'], outputs: ['h'] },
      { op: 'Relu', inputs: ['h'], outputs: ['a'] },
      { op: 'Gemm', inputs: ['a', 'l2.w', 'l2.b'], outputs: ['embedding'] },
    ],
  };
}

/** A model whose one node is an operator no runtime has (`FlockNoSuchOp`): a typed failure. */
export function unsupportedOpModel(): OnnxModel {
  return {
    name: 'flock-unsupported',
    inputs: [{ name: 'x', dtype: 'float32', shape: ['N', 4] }],
    outputs: [{ name: 'y', dtype: 'float32', shape: ['N', 4] }],
    initializers: [],
    nodes: [{ op: 'FlockNoSuchOp', inputs: ['x'], outputs: ['y'] }],
  };
}

/** Two named inputs: `a` and `b` float32 [N,4] → `sum` = a + b and `product` = a · b (binding by name). */
export function pairModel(): OnnxModel {
  return {
    name: 'flock-pair',
    inputs: [
      { name: 'a', dtype: 'float32', shape: ['N', 4] },
      { name: 'b', dtype: 'float32', shape: ['N', 4] },
    ],
    outputs: [
      { name: 'sum', dtype: 'float32', shape: ['N', 4] },
      { name: 'product', dtype: 'float32', shape: ['N', 4] },
    ],
    initializers: [],
    nodes: [
      { op: 'Add', inputs: ['a', 'b'], outputs: ['sum'] },
      { op: 'Mul', inputs: ['a', 'b'], outputs: ['product'] },
    ],
  };
}

/** Every model of the zoo by file name, as bytes. */
export function zooFiles(): Record<string, Uint8Array> {
  return {
    'cnn.onnx': writeOnnx(cnnModel()),
    'mlp.onnx': writeOnnx(mlpModel()),
    'pair.onnx': writeOnnx(pairModel()),
    'unsupported-op.onnx': writeOnnx(unsupportedOpModel()),
  };
}

/** Deterministic example inputs: `count` values in [0, 1) from `seed`. */
export function exampleValues(count: number, seed: number): Float32Array {
  const next = generator(seed);
  const values = new Float32Array(count);
  for (let i = 0; i < count; i++) values[i] = next();
  return values;
}
