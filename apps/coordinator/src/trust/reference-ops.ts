import { register } from 'node:module';
import type { ReferenceOps } from './known-answers.ts';

// The built-in ops import their WGSL as text (`x.wgsl?raw`), which vite and esbuild understand and
// plain Node does not. This load hook gives Node the same: the file's text as the default export.
const WGSL_LOADER = `
export async function load(url, context, next) {
  if (/\\.wgsl(\\?raw)?$/.test(url)) {
    const { readFile } = await import('node:fs/promises');
    const text = await readFile(new URL(url.replace(/\\?raw$/, '')), 'utf8');
    return { format: 'module', source: 'export default ' + JSON.stringify(text) + ';', shortCircuit: true };
  }
  return next(url, context);
}
`;

let loaded: Promise<ReferenceOps> | undefined;

/**
 * The built-in ops' CPU references (`getOp`, `measureError` of `@flock/shaders`), loaded once.
 * Imported by name at run time so the coordinator's Node typecheck does not pull in the
 * package's WebGPU-typed runners.
 */
export function loadReferenceOps(): Promise<ReferenceOps> {
  loaded ??= (async () => {
    register(`data:text/javascript,${encodeURIComponent(WGSL_LOADER)}`);
    const specifier = '@flock/shaders';
    const shaders = (await import(specifier)) as ReferenceOps;
    return { getOp: shaders.getOp, measureError: shaders.measureError };
  })();
  return loaded;
}
