// Requester-signed tasks (#19) from the SDK and the CLI, against a real coordinator whose key
// demands signatures (`|sign:<secret>`): signEnvelope's token is the HMAC of the canonical form,
// a client with `signingSecret` (the CLI with FLOCK_SIGNING_SECRET) is accepted and gets its token
// back in the result; unsigned or wrongly signed tasks are 401, exit 3.
import { createHmac } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type RunningCoordinator, startCoordinator } from '@flock/coordinator';
import { SimulatedVolunteer } from '@flock/coordinator/sim';
import { type ComputeEnvelope, canonicalEnvelope, canonicalJson } from '@flock/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { FlockClient, FlockError, signBody, signEnvelope } from '../src/index.ts';
import { runCli } from './support/run-cli.ts';

const KEY = 'key-signer-0123456789';
const SECRET = 'sign-secret-0123456789';
let dataDir: string;
let coordinator: RunningCoordinator;
let volunteer: SimulatedVolunteer;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'flock-client-sign-'));
  coordinator = await startCoordinator({
    port: 0,
    dataDir,
    apiKeys: new Map([[KEY, 'acme']]),
    signingSecrets: new Map([[KEY, SECRET]]),
    logLevel: 'silent',
    extraOps: ['sum'],
  });
  volunteer = await SimulatedVolunteer.connect({ url: coordinator.url });
});

afterAll(async () => {
  await volunteer?.close();
  await coordinator?.close();
  await rm(dataDir, { recursive: true, force: true });
});

const sum = (taskId: string): ComputeEnvelope => ({
  task_id: taskId,
  op: 'sum',
  module: { kind: 'builtin' },
  requirements: { min: { wasm: true } },
  inputs: [{ name: 'x', inline_bytes: new Uint8Array([1, 2, 3, 4]) }],
});

const client = (signingSecret?: string) =>
  new FlockClient({ url: coordinator.url, apiKey: KEY, WebSocket, signingSecret });

describe('signEnvelope', () => {
  it('sets security.task_token to hmac: + hex HMAC-SHA256 of the canonical form, leaving the input alone', async () => {
    const envelope = sum('sig-1');
    const signed = await signEnvelope(envelope, SECRET);
    const canonical =
      '{"inputs":[{"inline_bytes":"AQIDBA==","name":"x"}],"module":{"kind":"builtin"},"op":"sum","requirements":{"min":{"wasm":true}},"task_id":"sig-1"}';
    expect(canonicalEnvelope(envelope)).toBe(canonical);
    const hex = createHmac('sha256', SECRET).update(canonical).digest('hex');
    expect(signed.security).toEqual({ task_token: `hmac:${hex}` });
    expect(envelope.security).toBeUndefined();
    // Signing a signed envelope again gives the same token (security is not signed).
    expect((await signEnvelope(signed, SECRET)).security).toEqual(signed.security);
  });
});

describe('the SDK and the CLI with a signing secret', () => {
  it('a signed task and campaign are accepted and the result echoes the token; unsigned is 401', async () => {
    const signer = client(SECRET);
    const task = await signer.submit(sum('sdk-1'));
    const result = await task.result({ timeoutMs: 10_000 });
    expect(result.task_token).toBe((await signEnvelope(sum('sdk-1'), SECRET)).security?.task_token);
    const campaign = await signer.submitCampaign([sum('sdk-c1'), sum('sdk-c2')], 'sdk-camp');
    expect(campaign.tasks.map((t) => t.id)).toEqual(['sdk-c1', 'sdk-c2']);
    const capnp = await signer.submit(sum('sdk-capnp'), { format: 'capnp' });
    expect(capnp.view?.state).toBe('queued');

    const unsigned = await client()
      .submit(sum('sdk-2'))
      .catch((e: unknown) => e);
    expect(unsigned).toBeInstanceOf(FlockError);
    expect([(unsigned as FlockError).status, (unsigned as FlockError).code]).toEqual([
      401,
      'SIGNATURE_REQUIRED',
    ]);
    const wrong = await client('not-the-secret-0123456789')
      .submit(sum('sdk-3'))
      .catch((e: unknown) => e);
    expect([(wrong as FlockError).status, (wrong as FlockError).code]).toEqual([401, 'BAD_SIGNATURE']);
  });

  it('a workflow is signed as a body (signBody); unsigned it is 401 SIGNATURE_REQUIRED', async () => {
    const step = {
      id: 'a',
      op: 'sum',
      module: { kind: 'builtin' },
      requirements: { min: { wasm: true } },
      inputs: [{ name: 'x', inline_bytes: 'AQIDBA==' }],
    };
    const definition = { workflow_id: 'wf-signed', steps: [step] } as never;
    const signed = await signBody(definition as Record<string, unknown>, SECRET);
    const { security: _s, ...unsigned } = signed;
    const hex = createHmac('sha256', SECRET).update(canonicalJson(unsigned)).digest('hex');
    expect(signed.security).toEqual({ task_token: `hmac:${hex}` });
    const refused = await client()
      .workflow(definition)
      .catch((e: unknown) => e);
    expect([(refused as FlockError).status, (refused as FlockError).code]).toEqual([
      401,
      'SIGNATURE_REQUIRED',
    ]);
    const workflow = await client(SECRET).workflow(definition);
    expect((await workflow.wait({ timeoutMs: 10_000 })).state).toBe('succeeded');
  });

  it('flock submit signs with FLOCK_SIGNING_SECRET; without it the task is refused, exit 3', async () => {
    const stdin = JSON.stringify({
      task_id: 'cli-1',
      op: 'sum',
      module: { kind: 'builtin' },
      requirements: { min: { wasm: true } },
    });
    const flock = (args: string[], env: Record<string, string>) =>
      runCli(['submit', '-', ...args], { url: coordinator.url, key: KEY, stdin, env });
    expect(await flock([], {})).toEqual({
      code: 3,
      stdout: '',
      stderr:
        "flock: SIGNATURE_REQUIRED: this key signs its tasks: set security.task_token (set FLOCK_SIGNING_SECRET to this key's signing secret) (field: security.task_token)\n",
    });
    expect((await flock([], { FLOCK_SIGNING_SECRET: 'wrong-secret-0123456789' })).code).toBe(3);
    const signed = await flock(['--json'], { FLOCK_SIGNING_SECRET: SECRET });
    expect([signed.code, JSON.parse(signed.stdout).task_id]).toEqual([0, 'cli-1']);
  });
});
