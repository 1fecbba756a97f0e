// Chromium side of `npm run bench -w @flock/sab-bridge`: bundles the page and the peer with
// esbuild, serves them with COOP/COEP from a throwaway node:http server, runs them in headless
// system Chromium and prints the same tables as the Node run.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { launchChromium } from '../../../e2e/support/chromium.ts';
import type { Results } from './core.ts';
import { formatResults } from './report.ts';

const out = mkdtempSync(join(tmpdir(), 'sab-bench-'));
await build({
  entryPoints: {
    main: new URL('./browser-main.ts', import.meta.url).pathname,
    peer: new URL('./peer-browser.ts', import.meta.url).pathname,
  },
  outdir: out,
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  logLevel: 'warning',
});

const files: Record<string, [string, string]> = {
  '/': [
    'text/html',
    '<!doctype html><meta charset="utf-8"><title>sab-bridge bench</title><script type="module" src="./main.js"></script>',
  ],
  '/main.js': ['text/javascript', readFileSync(join(out, 'main.js'), 'utf8')],
  '/peer.js': ['text/javascript', readFileSync(join(out, 'peer.js'), 'utf8')],
};
const server = createServer((req, res) => {
  const file = files[(req.url ?? '/').split('?')[0]!];
  if (req.url === '/favicon.ico') {
    res.writeHead(204).end();
    return;
  }
  if (!file) {
    res.writeHead(404).end();
    return;
  }
  res.writeHead(200, {
    'content-type': file[0],
    // Cross-origin isolation: without both, SharedArrayBuffer is unavailable.
    'cross-origin-opener-policy': 'same-origin',
    'cross-origin-embedder-policy': 'require-corp',
    'cross-origin-resource-policy': 'same-origin',
  });
  res.end(file[1]);
});
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const port = (server.address() as AddressInfo).port;

const browser = await launchChromium({ webgpu: false });
try {
  const page = await browser.newPage();
  page.on('console', (m) => console.log(`  ${m.text()}`));
  const samples = process.env.FLOCK_BENCH_SAMPLES ?? '400';
  const bulk = process.env.FLOCK_BENCH_BULK ?? '200';
  await page.goto(`http://127.0.0.1:${port}/?samples=${samples}&bulk=${bulk}`);
  if (
    !(await page.evaluate(
      () => (globalThis as unknown as { crossOriginIsolated: boolean }).crossOriginIsolated,
    ))
  )
    throw new Error('page is not crossOriginIsolated');
  const handle = await page.waitForFunction(() => (globalThis as { __bench?: unknown }).__bench, null, {
    timeout: 600_000,
    polling: 250,
  });
  const outcome = (await handle.jsonValue()) as { results?: Results; error?: string };
  if (!outcome.results) throw new Error(`browser bench failed: ${outcome.error}`);
  console.log(formatResults(outcome.results));
} finally {
  await browser.close();
  server.close();
  rmSync(out, { recursive: true, force: true });
}
