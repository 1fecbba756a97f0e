// The volunteer page where the browser gives less: no WebGPU (WASM-only, said plainly), and a
// page served without COOP/COEP (not cross-origin isolated: no SharedArrayBuffer, though WebCrypto
// on a secure origin), one on an insecure origin (no WebCrypto either). In each the capability the
// coordinator receives says so, and work the tab cannot do is never sent to it; and a coordinator
// that refuses the page's origin.

import { createCipheriv } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize } from 'node:path';
import { chromium, expect, type Page, test } from '@playwright/test';
import { CHROMIUM_PATH, chromiumArgs, launchChromium } from '../support/chromium.ts';
import { Harness, libraryTask, outputBytes, taskId, wasmFixture, wasmTask } from './volunteer-harness.ts';

test.describe.configure({ mode: 'serial' });

const TYPES: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css' };

/** Serves the built pages (from `root.dir`, set once built) with no isolation headers at all. */
async function plainServer(root: { dir: string }): Promise<{ server: Server; origin: string }> {
  const server = createServer(async (req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const file = join(root.dir, path === '/' ? 'worker-web/index.html' : normalize(path).replace(/^\/+/, ''));
    try {
      const body = await readFile(file);
      res.writeHead(200, { 'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream' });
      res.end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

async function workers(harness: Harness) {
  return (
    await harness.api<{ workers: Array<{ connected: boolean; capability: Record<string, unknown> }> }>(
      'GET',
      '/v1/workers',
    )
  ).body.workers.filter((w) => w.connected);
}

/** The JSON view leaves false and 0 out: spell the fields a test reads back in. */
function withDefaults(capability: Record<string, unknown> | undefined): Record<string, unknown> {
  const defaults = {
    webgpu: false,
    gpu_slots: 0,
    cross_origin_isolated: false,
    secure_context: false,
    shared_array_buffer: false,
    wasm_threads: false,
  };
  return { ...defaults, ...capability };
}

async function startDonating(page: Page): Promise<void> {
  await expect(page.locator('body')).toHaveAttribute('data-ready', 'true');
  await page.getByRole('button', { name: 'Start donating compute' }).click();
  await expect(page.locator('#connection')).toHaveText('open');
}

test('without WebGPU the tab says it is WASM-only, runs WASM and is never sent WGSL', async () => {
  const harness = await Harness.start();
  const browser = await launchChromium({ webgpu: false });
  try {
    const page = await browser.newPage();
    await page.goto(`${harness.url}/`);
    await expect(page.locator('#gpu-notice')).toHaveText(
      'WebGPU is not available in this browser, so this tab runs WebAssembly (CPU) jobs only.',
    );
    await expect(page.locator('#gpu')).toBeDisabled();
    await startDonating(page);
    const [worker] = await workers(harness);
    expect(withDefaults(worker?.capability)).toMatchObject({
      wasm: true,
      webgpu: false,
      gpu_slots: 0,
      cpu_slots: 1,
    });
    expect(worker?.capability['gpu']).toBeUndefined();

    const wgsl = taskId('no-gpu-wgsl');
    await harness.submit({
      task_id: wgsl,
      op: 'noop',
      module: {
        kind: 'wgsl',
        inline: Buffer.from('@compute @workgroup_size(1) fn main() {}').toString('base64'),
      },
      requirements: { min: { webgpu: true } },
    });
    const wasm = taskId('no-gpu-wasm');
    await harness.submit(wasmTask(wasm, await wasmFixture('empty')));
    await harness.waitFor(wasm, 'succeeded');
    const view = await harness.task(wgsl);
    expect(view.state).toBe('queued');
    expect(view.attempts).toEqual([]);
  } finally {
    await browser.close();
    await harness.close();
  }
});

test('a page without COOP/COEP explains it, reports it, gets no shared-memory work, and runs WebCrypto on a secure origin', async () => {
  const root = { dir: '' };
  const plain = await plainServer(root);
  // The tab's origin is not the coordinator's: allow it explicitly.
  const allowed = await Harness.start({ allowedOrigins: [plain.origin] });
  root.dir = allowed.pagesDir;
  const browser = await launchChromium({ webgpu: false });
  try {
    const page = await browser.newPage();
    const ws = `${allowed.url.replace('http', 'ws')}/v1/worker`;
    await page.goto(`${plain.origin}/?coordinator=${encodeURIComponent(ws)}`);
    await expect(page.locator('body')).toHaveAttribute('data-ready', 'true');
    expect(await page.evaluate(() => crossOriginIsolated)).toBe(false);
    await expect(page.locator('#isolation')).toBeVisible();
    await expect(page.locator('#isolation')).toContainText('not cross-origin isolated');
    await startDonating(page);
    const [worker] = await workers(allowed);
    expect(withDefaults(worker?.capability)).toMatchObject({
      wasm: true,
      cross_origin_isolated: false,
      shared_array_buffer: false,
      wasm_threads: false,
    });

    const threaded = taskId('needs-sab');
    await allowed.submit({
      ...wasmTask(threaded, await wasmFixture('kernel-poly-simd'), { abi: 'kernel' }),
      requirements: { min: { wasm: true, cross_origin_isolated: true } },
    });
    const plainTask = taskId('plain');
    await allowed.submit(wasmTask(plainTask, await wasmFixture('wasi-echo'), { params: { args: ['x'] } }));
    await allowed.waitFor(plainTask, 'succeeded');
    expect(outputBytes(await allowed.result(plainTask), 'stdout').toString()).toMatch(/^argc=2 arg1=x\n/);
    const view = await allowed.task(threaded);
    expect(view.state).toBe('queued');
    expect(view.attempts).toEqual([]);

    // 127.0.0.1 is a secure context though not isolated: it has WebCrypto, and runs AES-GCM.
    expect(await page.evaluate(() => isSecureContext)).toBe(true);
    expect(withDefaults(worker?.capability)['secure_context']).toBe(true);
    const plaintext = new TextEncoder().encode('hello');
    const key = '00'.repeat(16);
    const iv = '00'.repeat(12);
    const aes = taskId('secure-aes');
    await allowed.submit(
      libraryTask(aes, 'crypto.aes_gcm_encrypt', { key, iv }, [
        { name: 'p.txt', contentType: 'text/plain', bytes: plaintext },
      ]),
    );
    expect((await allowed.waitFor(aes, 'succeeded')).executor).toBe('library:crypto');
    const cipher = createCipheriv('aes-128-gcm', Buffer.from(key, 'hex'), Buffer.from(iv, 'hex'));
    const expected = Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
    expect(outputBytes(await allowed.result(aes), 'p.txt.enc').equals(expected)).toBe(true);
  } finally {
    await browser.close();
    plain.server.close();
    await allowed.close();
  }
});

test('a page on an insecure origin (plain http, not localhost) runs WASM, streams a large output, and gets no WebCrypto work', async () => {
  const harness = await Harness.start();
  // http://flock.test is neither HTTPS nor localhost: no secure context, as for a volunteer who
  // opens http://<server>:8787/ from another machine.
  const browser = await chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: [...chromiumArgs({ webgpu: false }), '--host-resolver-rules=MAP flock.test 127.0.0.1'],
  });
  try {
    const page = await browser.newPage();
    page.on('pageerror', (error) => console.log(`[tab] ${error.message}`));
    await page.goto(`http://flock.test:${new URL(harness.url).port}/`);
    await expect(page.locator('body')).toHaveAttribute('data-ready', 'true');
    expect(await page.evaluate(() => isSecureContext)).toBe(false);
    await expect(page.locator('#isolation')).toBeVisible();
    await startDonating(page);
    const [worker] = await workers(harness);
    expect(withDefaults(worker?.capability)).toMatchObject({
      cross_origin_isolated: false,
      secure_context: false,
    });
    // 8 MiB of stdout: more than half a frame, so it goes up as a stream (its id drawn in the tab).
    const id = taskId('insecure-stream');
    await harness.submit(
      wasmTask(id, await wasmFixture('huge-output'), { permissions: { max_output_bytes: 16 * 1024 * 1024 } }),
    );
    const view = await harness.waitFor(id, 'succeeded');
    expect(view.attempts).toHaveLength(1);
    const stdout = await harness.output(await harness.result(id), 'stdout');
    expect(Buffer.from(stdout).equals(Buffer.alloc(8 * 1024 * 1024, 'x'))).toBe(true);

    // Such a page has no crypto.subtle: AES-GCM waits for a tab in a secure context, saying why,
    // while a digest (hash-wasm) runs here.
    const text = { name: 'p.txt', contentType: 'text/plain', bytes: new TextEncoder().encode('hello') };
    const aes = taskId('insecure-aes');
    await harness.submit(
      libraryTask(aes, 'crypto.aes_gcm_encrypt', { key: '00'.repeat(16), iv: '00'.repeat(12) }, [text]),
    );
    const digest = taskId('insecure-hash');
    await harness.submit(libraryTask(digest, 'crypto.hash', { algorithms: ['sha256'] }, [text]));
    expect((await harness.waitFor(digest, 'succeeded')).executor).toBe('library:crypto');
    const waiting = (await harness.task(aes)) as Awaited<ReturnType<Harness['task']>> & {
      waiting_reason?: string;
    };
    expect(waiting.state).toBe('queued');
    expect(waiting.attempts).toEqual([]);
    expect(waiting.waiting_reason).toBe(
      'no connected worker meets requirements.min.secure_context (1 connected)',
    );
  } finally {
    await browser.close();
    await harness.close();
  }
});

test('a coordinator that refuses the page origin is said plainly, not retried, and Try again connects once allowed', async () => {
  const root = { dir: '' };
  const plain = await plainServer(root);
  // The coordinator allows only its own origin: the page's, another port, is refused (1008).
  const harness = await Harness.start();
  root.dir = harness.pagesDir;
  const browser = await launchChromium({ webgpu: false });
  try {
    const page = await browser.newPage();
    const sockets: string[] = [];
    page.on('websocket', (socket) => sockets.push(socket.url()));
    const ws = `${harness.url.replace('http', 'ws')}/v1/worker`;
    await page.goto(`${plain.origin}/?coordinator=${encodeURIComponent(ws)}`);
    await expect(page.locator('body')).toHaveAttribute('data-ready', 'true');
    await page.getByRole('button', { name: 'Start donating compute' }).click();
    await expect(page.locator('#refused-text')).toHaveText(
      `This coordinator does not accept volunteers from this page's origin (${plain.origin}); its ` +
        'operator must add it to FLOCK_ALLOWED_ORIGINS. The tab has stopped trying to connect.',
    );
    await expect(page.locator('#connection')).toHaveText('refused (ORIGIN_NOT_ALLOWED)');
    await expect(page.locator('#state')).toHaveText('stopped: the coordinator refused this tab');
    expect(sockets).toEqual([ws]);

    // The operator adds the origin (FLOCK_ALLOWED_ORIGINS); Try again connects, and the notice goes.
    harness.coordinator.config.allowedOrigins.push(plain.origin);
    await page.getByRole('button', { name: 'Try again' }).click();
    await expect(page.locator('#connection')).toHaveText('open');
    await expect(page.locator('#refused')).toBeHidden();
    await expect(page.getByRole('button', { name: 'Pause' })).toBeFocused();
    expect(sockets).toEqual([ws, ws]);
  } finally {
    await browser.close();
    plain.server.close();
    await harness.close();
  }
});
