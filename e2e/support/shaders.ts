// @flock/shaders in Node: it imports its WGSL as `*.wgsl?raw` (a Vite convention), so a module
// hook gives the same thing outside Vite (the file's text as the default export) before loading.
import { register } from 'node:module';

type Shaders = typeof import('@flock/shaders');
let loaded: Promise<Shaders> | undefined;

/** Loads @flock/shaders (ops, CPU references, error metrics) once per worker process. */
export function flockShaders(): Promise<Shaders> {
  loaded ??= (async () => {
    register(
      `data:text/javascript,${encodeURIComponent(`
        import { readFileSync } from 'node:fs';
        import { fileURLToPath } from 'node:url';
        export async function load(url, context, next) {
          const path = url.split('?')[0];
          if (!path.endsWith('.wgsl')) return next(url, context);
          const text = readFileSync(fileURLToPath(path), 'utf8');
          return { format: 'module', source: 'export default ' + JSON.stringify(text), shortCircuit: true };
        }`)}`,
    );
    return import('@flock/shaders');
  })();
  return loaded;
}
