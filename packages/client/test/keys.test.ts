// API keys through the SDK (createKey, keys, revokeKey) and the CLI (`flock keys`), against a real
// coordinator (in-process, SQLite in a temp dir): a key made with `read` reads but may not submit
// (FORBIDDEN, exit 3), the secret is printed once, a revoked key is refused.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type RunningCoordinator, startCoordinator } from '@flock/coordinator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FlockClient, FlockError, type KeyView } from '../src/index.ts';
import { runCli } from './support/run-cli.ts';

const KEY = 'key-acme-admin-0123456789';
let dataDir: string;
let coordinator: RunningCoordinator;
let admin: FlockClient;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'flock-client-keys-'));
  coordinator = await startCoordinator({
    port: 0,
    dataDir,
    apiKeys: new Map([[KEY, 'acme']]),
    logLevel: 'silent',
    extraOps: ['sum'],
  });
  admin = new FlockClient({ url: coordinator.url, apiKey: KEY });
});

afterAll(async () => {
  await coordinator?.close();
  await rm(dataDir, { recursive: true, force: true });
});

const flock = (args: string[], key = KEY) => runCli(args, { url: coordinator.url, key });

const sum = {
  task_id: 'k-sum',
  op: 'sum',
  module: { kind: 'builtin' as const },
  requirements: { min: { wasm: true } },
};

describe('keys through the SDK', () => {
  it('creates a read key that reads but may not submit, lists it without its secret, revokes it', async () => {
    const made = await admin.createKey({ scopes: ['read'], name: 'reader' });
    expect(made).toMatchObject({ tenant: 'acme', scopes: ['read'], name: 'reader' });
    expect(made.key).toMatch(/^flock_/);
    const reader = new FlockClient({ url: coordinator.url, apiKey: made.key });
    expect((await reader.listTasks()).tasks).toEqual([]);
    const refused = await reader.submit(sum).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(FlockError);
    expect(refused).toMatchObject({
      code: 'FORBIDDEN',
      status: 403,
      message: 'this key lacks the scope submit',
    });
    const listed: KeyView[] = await admin.keys();
    expect(listed).toEqual([
      {
        key_id: made.key_id,
        tenant: 'acme',
        scopes: ['read'],
        name: 'reader',
        created_at_ms: made.created_at_ms,
      },
    ]);
    const revoked = await admin.revokeKey(made.key_id);
    expect(revoked.revoked_at_ms).toBeGreaterThanOrEqual(made.created_at_ms);
    await expect(reader.listTasks()).rejects.toMatchObject({ code: 'UNAUTHENTICATED', status: 401 });
  });
});

describe('signing keys', () => {
  it('createKey({ signing: true }) returns a signing secret once; the SDK signs with it, unsigned is refused', async () => {
    const made = await admin.createKey({ scopes: ['submit', 'read'], signing: true });
    expect(made.signing).toBe(true);
    expect(made.signing_secret).toMatch(/^sign_[A-Za-z0-9_-]{32}$/);
    const unsigned = new FlockClient({ url: coordinator.url, apiKey: made.key });
    await expect(unsigned.submit({ ...sum, task_id: 'k-unsigned' })).rejects.toMatchObject({
      code: 'SIGNATURE_REQUIRED',
      status: 401,
    });
    const signer = new FlockClient({
      url: coordinator.url,
      apiKey: made.key,
      signingSecret: made.signing_secret!,
    });
    const task = await signer.submit({ ...sum, task_id: 'k-signed' });
    expect(task.id).toBe('k-signed');
    const listed = (await admin.keys()).find((k) => k.key_id === made.key_id);
    expect(listed).toEqual({
      key_id: made.key_id,
      tenant: 'acme',
      scopes: ['submit', 'read'],
      created_at_ms: made.created_at_ms,
      signing: true,
    });
  });

  it('flock keys create --signing prints the key and its signing secret once; FLOCK_SIGNING_SECRET signs', async () => {
    const made = await flock(['keys', 'create', 'submit', 'read', '--signing']);
    expect(made.code).toBe(0);
    const [keyId, secret, signingSecret] = made.stdout.trim().split(/\s+/);
    expect(keyId).toMatch(/^k-/);
    expect(secret).toMatch(/^flock_/);
    expect(signingSecret).toMatch(/^sign_/);
    expect(made.stderr).toBe(
      'flock: the key and its signing secret above are shown this once; keep them (FLOCK_API_KEY, FLOCK_SIGNING_SECRET)\n',
    );
    const envelope = JSON.stringify({ ...sum, task_id: 'k-cli-signed' });
    const run = (env: Record<string, string>) =>
      runCli(['submit', '-', '--json'], { url: coordinator.url, key: secret!, stdin: envelope, env });
    expect((await run({})).code).toBe(3);
    expect((await run({ FLOCK_SIGNING_SECRET: signingSecret! })).code).toBe(0);
    const listed = await flock(['keys']);
    expect(
      listed.stdout
        .split('\n')[0]
        ?.trimEnd()
        .split(/\s{2,}/),
    ).toEqual(['KEY', 'TENANT', 'SCOPES', 'NAME', 'CREATED', 'REVOKED', 'SIGNING']);
    const row = listed.stdout
      .split('\n')
      .map((line) => line.trimEnd().split(/\s{2,}/))
      .find((cells) => cells[0] === keyId);
    expect(row?.slice(2)).toEqual(['submit read', '-', expect.stringMatching(/^\d{4}-/), '-', 'yes']);
  });
});

describe('flock keys', () => {
  it('create prints the id and the secret once; list shows the key; a key without admin exits 3', async () => {
    const made = await flock(['keys', 'create', 'read', 'can_submit:su*', '--name', 'cli']);
    expect(made.code).toBe(0);
    const [keyId, secret] = made.stdout.trim().split(/\s+/);
    expect(keyId).toMatch(/^k-/);
    expect(secret).toMatch(/^flock_/);
    expect(made.stderr).toBe('flock: the secret above is shown this once; keep it (FLOCK_API_KEY)\n');
    const listed = await flock(['keys']);
    expect(listed.code).toBe(0);
    const row = listed.stdout
      .split('\n')
      .map((line) => line.trimEnd().split(/\s{2,}/))
      .find((cells) => cells[0] === keyId);
    expect(row?.slice(1, 4)).toEqual(['acme', 'read can_submit:su*', 'cli']);
    expect(row?.slice(5)).toEqual(['-', '-']);
    // `keys list` is the same command as `keys`; anything after it is a usage error.
    expect(await flock(['keys', 'list'])).toEqual(listed);
    expect(await flock(['keys', 'list', 'extra'])).toMatchObject({ code: 2, stdout: '' });
    expect(await flock(['keys'], secret)).toEqual({
      code: 3,
      stdout: '',
      stderr: 'flock: FORBIDDEN: this key lacks the scope admin\n',
    });
    expect(await flock(['keys', 'revoke', keyId!])).toMatchObject({
      code: 0,
      stdout: expect.stringMatching(new RegExp(`^${keyId} revoked at \\d{4}-\\d\\d-\\d\\dT`)),
    });
    expect((await flock(['keys', 'revoke', 'k-missing'])).code).toBe(4);
    expect((await flock(['keys', 'revoke'])).code).toBe(2);
    const noScopes = await flock(['keys', 'create']);
    expect(noScopes.code).toBe(2);
    expect(noScopes.stderr).toContain(
      '  scopes: read submit cancel admin can_submit:<op pattern> can_subscribe:<channel pattern>\n',
    );
  });
});
