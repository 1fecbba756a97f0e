// Runs bench/core.ts in headless system Chromium: bundles the page and the peer with esbuild,
// serves them with COOP/COEP from a throwaway node:http server, and returns the page's results.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { launchChromium } from '../../../e2e/support/chromium.ts';
import type { Results } from './core.ts';

export interface ChromiumRun {
  samples: number;
  bulk: number;
  workloadJobs: number;
  log?: (line: string) => void;
}

export async function runInChromium(run: ChromiumRun): Promise<Results> {
  const out = mkdtempSync(join(tmpdir(), 'sab-bench-'));
  const server = createServer();
  try {
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
    server.on('request', (req, res) => {
      const file = files[(req.url ?? '/').split('?')[0]!];
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
      if (run.log) page.on('console', (m) => run.log?.(m.text()));
      await page.goto(
        `http://127.0.0.1:${port}/?samples=${run.samples}&bulk=${run.bulk}&jobs=${run.workloadJobs}`,
      );
      const isolated = await page.evaluate(
        () => (globalThis as unknown as { crossOriginIsolated: boolean }).crossOriginIsolated,
      );
      if (!isolated) throw new Error('the page is not crossOriginIsolated');
      const handle = await page.waitForFunction(() => (globalThis as { __bench?: unknown }).__bench, null, {
        timeout: 600_000,
        polling: 250,
      });
      const outcome = (await handle.jsonValue()) as { results?: Results; error?: string };
      if (!outcome.results) throw new Error(`browser bench failed: ${outcome.error}`);
      return outcome.results;
    } finally {
      await browser.close();
    }
  } finally {
    server.close();
    rmSync(out, { recursive: true, force: true });
  }
}
