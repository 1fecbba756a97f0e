// Loads the WebAssembly fixtures compiled by scripts/build-fixtures.sh (run `npm run build -w
// @flock/worker-web`); tests fail loudly when they are missing rather than skipping.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

export const FIXTURE_DIR = resolve(import.meta.dirname, '../build/fixtures');

export function fixture(name: string): Uint8Array {
  return new Uint8Array(readFileSync(resolve(FIXTURE_DIR, `${name}.wasm`)));
}
