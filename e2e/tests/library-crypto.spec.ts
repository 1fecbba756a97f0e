// Library ops (#15) in real Chromium against a real coordinator: `crypto.*` runs in the tab's
// executor on hash-wasm, @noble/ed25519 and WebCrypto, and every output equals the Node
// reference (@flock/libraries/reference) and OpenSSL byte for byte. The first job loads the
// library (cold), the second finds it warm, and the tab then advertises it in its capability. A
// job over its input limit fails with the library's typed code and the tab serves the next one.
import { createHash, createPublicKey, verify } from 'node:crypto';
import { runReference } from '@flock/libraries/reference';
import { type Browser, expect, test } from '@playwright/test';
import { launchChromium } from '../support/chromium.ts';
import { openVolunteerTab } from '../support/volunteer-tab.ts';
import { Harness, libraryTask, outputBytes, taskId } from './volunteer-harness.ts';

test.describe.configure({ mode: 'serial' });

let harness: Harness;
let browser: Browser;

test.beforeAll(async () => {
  harness = await Harness.start();
  browser = await launchChromium({ webgpu: false });
  await openVolunteerTab(browser, `${harness.url}/`);
});

test.afterAll(async () => {
  await browser?.close();
  await harness?.close();
});

const INPUTS = [
  { name: 'hello.txt', contentType: 'text/plain', bytes: Buffer.from('hello, flock\n') },
  {
    name: 'ramp.bin',
    contentType: 'application/octet-stream',
    bytes: Buffer.from(Array.from({ length: 70_000 }, (_, i) => (i * 31) & 0xff)),
  },
];

const referenceInputs = INPUTS.map((i) => ({ ...i, bytes: new Uint8Array(i.bytes) }));

test('crypto.hash in the tab equals the Node reference and OpenSSL; cold first, warm second', async () => {
  const params = { algorithms: ['sha256', 'sha512', 'sha3-256', 'blake3', 'xxhash64'] };
  const first = taskId('lib-hash');
  await harness.submit(libraryTask(first, 'crypto.hash', params, INPUTS));
  const view = await harness.waitFor(first, 'succeeded');
  expect(view.executor).toBe('library:crypto');
  const result = await harness.result(first);
  const digests = outputBytes(result, 'digests.json');
  const reference = await runReference('crypto.hash', params, referenceInputs);
  expect(digests.equals(Buffer.from(reference.outputs[0]!.bytes))).toBe(true);
  const parsed = JSON.parse(digests.toString()) as Record<string, Record<string, string>>;
  for (const input of INPUTS) {
    expect(parsed[input.name]!['sha256']).toBe(createHash('sha256').update(input.bytes).digest('hex'));
    expect(parsed[input.name]!['sha3-256']).toBe(createHash('sha3-256').update(input.bytes).digest('hex'));
  }
  expect(result.metrics?.['library_warm']).toBe('0');

  const second = taskId('lib-hash');
  await harness.submit(libraryTask(second, 'crypto.hash', { algorithms: ['blake3'] }, INPUTS));
  await harness.waitFor(second, 'succeeded');
  expect((await harness.result(second)).metrics?.['library_warm']).toBe('1');
  // The tab now says it holds crypto warm (the scheduler prefers it for crypto jobs).
  await expect
    .poll(async () => {
      const { body } = await harness.api<{ workers: Array<{ capability: { libraries?: string[] } }> }>(
        'GET',
        '/v1/workers',
      );
      return body.workers.map((w) => w.capability.libraries ?? []);
    })
    .toEqual([['crypto']]);
});

test('crypto.ed25519_sign in the tab gives signatures OpenSSL verifies', async () => {
  const seed = '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60'; // RFC 8032 test 1
  const id = taskId('lib-sign');
  await harness.submit(libraryTask(id, 'crypto.ed25519_sign', { private_key: seed }, INPUTS));
  await harness.waitFor(id, 'succeeded');
  const result = await harness.result(id);
  const publicHex = result.summary?.['public_key'] ?? '';
  expect(publicHex).toBe('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a');
  const key = createPublicKey({
    key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), Buffer.from(publicHex, 'hex')]),
    format: 'der',
    type: 'spki',
  });
  const signatures = JSON.parse(outputBytes(result, 'signatures.json').toString()) as Record<string, string>;
  for (const input of INPUTS) {
    expect(verify(null, input.bytes, key, Buffer.from(signatures[input.name]!, 'hex'))).toBe(true);
  }
});

test('a job over its input limit fails INPUT_TOO_LARGE, not retried; the tab serves the next job', async () => {
  const id = taskId('lib-big');
  await harness.submit(
    libraryTask(id, 'crypto.hash', { algorithms: ['sha256'] }, INPUTS, {
      module: { kind: 'library', permissions: { max_input_bytes: 1000 } },
    }),
  );
  const view = await harness.waitFor(id, 'failed');
  expect(view.failure?.code).toBe('INPUT_TOO_LARGE');
  expect(view.failure?.message).toMatch(/inputs pass .*1000-byte limit$/);
  expect(view.attempts).toHaveLength(1);
  const next = taskId('lib-after');
  await harness.submit(libraryTask(next, 'crypto.hmac', { key: '6b6579' }, INPUTS));
  await harness.waitFor(next, 'succeeded');
  const hmac = JSON.parse(outputBytes(await harness.result(next), 'digests.json').toString());
  expect(hmac['hello.txt']['hmac-sha256']).toBe(
    (await import('node:crypto')).createHmac('sha256', 'key').update(INPUTS[0]!.bytes).digest('hex'),
  );
});
