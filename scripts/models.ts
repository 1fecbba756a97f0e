// `npm run models -- <dir>`: writes the example ONNX models (@flock/libraries/models zooFiles:
// cnn.onnx, mlp.onnx, ...; deterministic, built from source, nothing downloaded) and an example
// input for the CNN, digits.npy: 256 images of float32 [256, 1, 28, 28].
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { exampleValues, writeNpy, zooFiles } from '@flock/libraries/models';

// npm runs scripts in the repository root: a relative <dir> is taken from where npm was run.
const dir = resolve(process.env['INIT_CWD'] ?? '.', process.argv[2] ?? 'models');
mkdirSync(dir, { recursive: true });
const files = { ...zooFiles() };
const rows = 256;
const digits = exampleValues(rows * 28 * 28, 1);
files['digits.npy'] = writeNpy(
  { dtype: 'float32', shape: [rows, 1, 28, 28] },
  new Uint8Array(digits.buffer, digits.byteOffset, digits.byteLength),
);
for (const [name, bytes] of Object.entries(files)) {
  writeFileSync(join(dir, name), bytes);
  console.log(`${join(dir, name)}  ${bytes.byteLength} bytes`);
}
