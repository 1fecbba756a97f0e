// Bundles a browser entry with esbuild (WGSL imported as text via `?raw`, like vite) and serves it
// on 127.0.0.1 from a cross-origin-isolated page (COOP same-origin + COEP require-corp).
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { build, type Plugin } from 'esbuild';

/** esbuild plugin: `import text from './x.wgsl?raw'` gives the file's text. */
export const rawTextPlugin: Plugin = {
  name: 'raw-text',
  setup(b) {
    b.onResolve({ filter: /\?raw$/ }, (args) => ({
      path: new URL(args.path.slice(0, -'?raw'.length), `file://${args.resolveDir}/`).pathname,
      namespace: 'raw-text',
    }));
    b.onLoad({ filter: /.*/, namespace: 'raw-text' }, async (args) => ({
      contents: await readFile(args.path, 'utf8'),
      loader: 'text',
    }));
  },
};

/** A served page; close() stops the server. */
export interface ServedPage {
  readonly url: string;
  close(): Promise<void>;
}

/** Bundles `entry` (a path) and serves it as the module script of an isolated page. */
export async function servePage(entry: string): Promise<ServedPage> {
  const bundle = await build({
    entryPoints: [entry],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'chrome120',
    write: false,
    plugins: [rawTextPlugin],
    logLevel: 'silent',
  });
  const script = bundle.outputFiles[0]!.contents;
  const html =
    '<!doctype html><meta charset="utf-8"><title>flock shaders</title><script type="module" src="/main.js"></script>';
  const server = createServer((req, res) => {
    const headers = {
      'Cross-Origin-Opener-Policy': 'same-origin',
      'Cross-Origin-Embedder-Policy': 'require-corp',
      'Cache-Control': 'no-store',
    };
    if (req.url === '/main.js') {
      res.writeHead(200, { ...headers, 'Content-Type': 'text/javascript' }).end(script);
    } else if (req.url === '/') {
      res.writeHead(200, { ...headers, 'Content-Type': 'text/html' }).end(html);
    } else {
      res.writeHead(404, headers).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    close: () => new Promise<void>((resolve, reject) => server.close((e) => (e ? reject(e) : resolve()))),
  };
}
