// Flock for volunteers on other machines, as the README's Operators section runs it: the volunteer
// page under a host name that is not localhost (flock.test, mapped to 127.0.0.1 by Chromium's
// host resolver rules) over HTTPS is a secure context: cross-origin isolated, SharedArrayBuffer,
// WebGPU, and a WGSL job submitted with the CLI runs end to end. Once with the coordinator's own
// TLS (FLOCK_TLS=self-signed), once behind nginx terminating TLS (the README's server block).
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type Browser, chromium, expect, type Page, test } from '@playwright/test';
import { chromiumArgs, chromiumLaunchOptions } from '../support/chromium.ts';
import {
  CONNECTION_UPGRADE_MAP,
  flockServerBlock,
  makeCertificate,
  NGINX,
  NginxProcess,
} from '../support/nginx.ts';
import {
  builtinEnvelope,
  measureAgainstReference,
  type ResultJson,
  referenceCalls,
} from '../support/reference-ops.ts';
import { buildPages, CoordinatorProcess, freePort, ROOT } from '../support/spawned-coordinator.ts';
import { startDonating } from '../support/volunteer-tab.ts';

test.describe.configure({ mode: 'serial' });

const HOST = 'flock.test';
let workDir: string;
let pagesDir: string;
let browser: Browser;
const stops: Array<() => Promise<void>> = [];

test.beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'flock-deploy-e2e-'));
  pagesDir = join(workDir, 'pages');
  await buildPages(pagesDir);
  const options = chromiumLaunchOptions({ webgpu: true });
  browser = await chromium.launch({
    ...options,
    args: [...chromiumArgs({ webgpu: true }), `--host-resolver-rules=MAP ${HOST} 127.0.0.1`],
  });
});

test.afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop();
});

test.afterAll(async () => {
  await browser?.close();
  await rm(workDir, { recursive: true, force: true });
});

/** GET /healthz over HTTPS on 127.0.0.1:`port`, the certificate verified for `servername`; 0 when refused. */
function healthz(port: number, ca: string, servername: string): Promise<number> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/healthz', ca, servername }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', () => resolve(0));
    req.end();
  });
}

/** Starts `apps/coordinator/src/main.ts` (what `npm start` runs) with `env`; stopped after the test. */
async function coordinator(env: Record<string, string>): Promise<CoordinatorProcess> {
  const started = CoordinatorProcess.main({ FLOCK_PAGES_DIR: pagesDir, FLOCK_LOG_LEVEL: 'warn', ...env });
  stops.push(() => started.kill('SIGTERM'));
  await started.banner();
  return started;
}

/**
 * Opens `origin/` in a fresh context (the test certificate is not in Chromium's store: its errors
 * are ignored, which keeps the page a secure context), checks what a secure context grants, and
 * presses Start.
 */
async function volunteerAt(origin: string): Promise<{ page: Page; workerId: string }> {
  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  stops.push(() => context.close());
  const page = await context.newPage();
  page.on('console', (message) => {
    if (message.type() === 'error') console.log(`[tab] ${message.text()}`);
  });
  await page.goto(`${origin}/`);
  await expect(page.locator('body')).toHaveAttribute('data-ready', 'true');
  const granted = await page.evaluate(async () => ({
    origin: location.origin,
    secure: isSecureContext,
    isolated: crossOriginIsolated,
    sab: typeof SharedArrayBuffer === 'function',
    gpu: 'gpu' in navigator,
    adapter: (await (navigator as Navigator & { gpu: GPU }).gpu.requestAdapter()) !== null,
  }));
  expect(granted).toEqual({ origin, secure: true, isolated: true, sab: true, gpu: true, adapter: true });
  await expect(page.locator('#isolation')).toBeHidden();
  await expect(page.locator('#gpu-notice')).toBeHidden();
  const tab = await startDonating(page);
  return { page, workerId: tab.workerId };
}

/**
 * Submits a WGSL saxpy with `npx flock submit --wait` against `url`, trusting `caFile` the way
 * the coordinator's start banner says (NODE_EXTRA_CA_CERTS); checks the attempt ran on
 * `workerId`, the tab says so, and the result (read by the page, same origin) matches the CPU
 * reference.
 */
async function runJob(
  url: string,
  caFile: string,
  key: string,
  taskId: string,
  page: Page,
  workerId: string,
) {
  const call = referenceCalls()[0]!;
  const envelopePath = join(workDir, `${taskId}.json`);
  await writeFile(envelopePath, JSON.stringify(builtinEnvelope(taskId, call, { webgpu: true })));
  const cli = await promisify(execFile)('npx', ['flock', 'submit', envelopePath, '--wait'], {
    cwd: ROOT,
    env: { ...process.env, FLOCK_URL: url, FLOCK_API_KEY: key, NODE_EXTRA_CA_CERTS: caFile },
    timeout: 60_000,
  });
  expect(cli.stdout).toMatch(new RegExp(`^${taskId} {2}succeeded {2}op=saxpy {2}module=builtin$`, 'm'));
  expect(cli.stdout).toMatch(new RegExp(`^attempt 1 {2}worker ${workerId} {2}succeeded {2}\\d+ ms$`, 'm'));
  await expect(page.locator('#last-task')).toHaveText(`${taskId}: ok (builtin:wgsl)`);
  const result = await page.evaluate(
    async ([id, bearer]) => {
      const response = await fetch(`/v1/tasks/${id}/result`, {
        headers: { Authorization: `Bearer ${bearer}` },
      });
      return { status: response.status, body: (await response.json()) as unknown };
    },
    [taskId, key] as const,
  );
  expect(result.status).toBe(200);
  const body = result.body as ResultJson;
  expect(body.executor).toBe('builtin:wgsl');
  const error = await measureAgainstReference(call, body);
  expect(error.ok, `${call.op}: ${error.metric} ${error.value} > ${error.bound}`).toBe(true);
}

test('direct TLS: FLOCK_TLS=self-signed with FLOCK_PUBLIC_URL', async () => {
  test.setTimeout(120_000);
  const port = await freePort();
  const dataDir = join(workDir, 'direct');
  const origin = `https://${HOST}:${port}`;
  const started = await coordinator({
    FLOCK_TLS: 'self-signed',
    FLOCK_PORT: String(port),
    FLOCK_PUBLIC_URL: origin,
    FLOCK_DATA: dataDir,
  });
  const certFile = join(dataDir, 'tls', 'self-signed-cert.pem');
  expect(started.stdout).toContain(`flock coordinator listening on https://127.0.0.1:${port}\n`);
  expect(started.stdout).toContain(`  volunteer page  ${origin}/\n`);
  expect(started.stdout).toContain(`NODE_EXTRA_CA_CERTS=${certFile}\n`);
  const devKey = /dev API key\s+(\S+)/.exec(started.stdout)?.[1] ?? '';

  const tab = await volunteerAt(origin);
  // The certificate names 127.0.0.1 too, so the CLI can reach it without the browser's host rules.
  await runJob(`https://127.0.0.1:${port}`, certFile, devKey, 'tls-direct', tab.page, tab.workerId);
});

test('behind nginx: TLS terminated there, WebSocket upgraded, X-Forwarded-* from a trusted proxy', async () => {
  test.skip(
    NGINX === undefined,
    'nginx is not installed (Debian package nginx; scripts/setup.sh installs it)',
  );
  test.setTimeout(120_000);
  const [upstream, port] = [await freePort(), await freePort()];
  const origin = `https://${HOST}:${port}`;
  const started = await coordinator({
    FLOCK_PORT: String(upstream),
    FLOCK_PUBLIC_URL: origin,
    FLOCK_TRUSTED_PROXIES: '127.0.0.1',
    FLOCK_DATA: join(workDir, 'proxied'),
  });
  expect(started.stdout).toContain(`flock coordinator listening on http://127.0.0.1:${upstream}\n`);
  expect(started.stdout).toContain(`  public URL      ${origin}\n`);
  const devKey = /dev API key\s+(\S+)/.exec(started.stdout)?.[1] ?? '';

  const nginxDir = join(workDir, 'nginx');
  const { certFile, keyFile } = makeCertificate(workDir, HOST);
  const nginx = await NginxProcess.start(nginxDir, {
    listen: `127.0.0.1:${port}`,
    serverName: HOST,
    certFile,
    keyFile,
    upstream: `127.0.0.1:${upstream}`,
  });
  stops.push(() => nginx.stop());
  // Up once it answers /healthz through to the coordinator, over TLS verified against its certificate.
  const ca = await readFile(certFile, 'utf8');
  await expect
    .poll(
      () => {
        if (nginx.exited) throw new Error(`nginx exited: ${nginx.stderr}`);
        return healthz(port, ca, HOST);
      },
      { timeout: 15_000 },
    )
    .toBe(200);

  const tab = await volunteerAt(origin);
  // flock.test resolves only in the browser: the CLI reaches nginx by its address (in the certificate).
  await runJob(`https://127.0.0.1:${port}`, certFile, devKey, 'tls-nginx', tab.page, tab.workerId);
});

test('the README shows the nginx configuration this spec runs', async () => {
  const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
  const live = '/etc/letsencrypt/live/flock.example.org';
  const block = flockServerBlock({
    listen: '443',
    serverName: 'flock.example.org',
    certFile: `${live}/fullchain.pem`,
    keyFile: `${live}/privkey.pem`,
    upstream: '127.0.0.1:8787',
  });
  expect(readme).toContain(`${CONNECTION_UPGRADE_MAP}\n${block}`);
  expect(readme).toContain(
    'FLOCK_TRUSTED_PROXIES=127.0.0.1 FLOCK_PUBLIC_URL=https://flock.example.org npm start',
  );
  expect(readme).toContain(
    'FLOCK_HOST=0.0.0.0 FLOCK_TLS=self-signed FLOCK_PUBLIC_URL=https://flock.example.org:8787 npm start',
  );
});
