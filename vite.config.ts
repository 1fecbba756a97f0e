import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { defineConfig, type Plugin } from 'vite';
import { libraryManifestPlugin } from './packages/libraries/src/node/package-files.ts';

// Builds the browser pages: the volunteer page (apps/worker-web) and the requester dashboard
// (apps/dashboard), into dist/pages, which the coordinator serves. The dev server sends COOP/COEP
// so pages are cross-origin isolated in development too.
const pages = {
  volunteer: resolve(import.meta.dirname, 'apps/worker-web/index.html'),
  dashboard: resolve(import.meta.dirname, 'apps/dashboard/index.html'),
};
// In development (`npx vite`), API and WebSocket calls go to a running coordinator.
const coordinator = process.env['FLOCK_COORDINATOR_URL'] ?? 'http://127.0.0.1:8787';
const isolation = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};

/**
 * onnxruntime-web's bundle names its 26 MB WASM with `new URL(…, import.meta.url)`, which would
 * make vite emit a second copy of it. The tab never fetches that one: the ml runtime hands ORT the
 * bytes it fetched and hash-checked (`env.wasm.wasmBinary`), so the reference becomes a bare name.
 */
function ortWasmNotEmitted(): Plugin {
  const reference = /new URL\("(ort-wasm-simd-threaded\.[a-z]+\.wasm)",import\.meta\.url\)\.href/g;
  return {
    name: 'flock-ort-wasm-not-emitted',
    enforce: 'pre',
    transform(code, id) {
      if (!/onnxruntime-web[\\/]dist[\\/]ort\.[a-z.]*bundle\.min\.mjs$/.test(id)) return undefined;
      return { code: code.replace(reference, '"$1"'), map: null };
    },
  };
}

export default defineConfig({
  root: resolve(import.meta.dirname, 'apps'),
  base: '/',
  build: {
    outDir: resolve(import.meta.dirname, 'dist/pages'),
    emptyOutDir: true,
    target: 'es2022',
    rollupOptions: {
      input: Object.fromEntries(Object.entries(pages).filter(([, path]) => existsSync(path))),
    },
  },
  // The hashes of the library files the tab fetches (packages/libraries/src/files.ts).
  plugins: [libraryManifestPlugin(), ortWasmNotEmitted()],
  worker: { format: 'es', plugins: () => [libraryManifestPlugin(), ortWasmNotEmitted()] },
  server: {
    headers: isolation,
    proxy: { '/v1': { target: coordinator, ws: true, changeOrigin: false } },
  },
  preview: { headers: isolation },
});
