// The SDK's typed library helpers against a real coordinator whose simulated volunteer runs each
// method's Node reference: params typed per op (a misspelt one does not compile), checked before
// anything is sent, large inputs uploaded as blobs; and the generated param types are current.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { METHODS } from '@flock/libraries';
import { paramsTypesSource } from '@flock/libraries/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FlockClient, FlockError, INLINE_INPUT_BYTES } from '../src/index.ts';
import { KEY, startTestCoordinator, type TestCoordinator } from './support/test-coordinator.ts';

let env: TestCoordinator;
let client: FlockClient;
/** Every request the client sent (the real fetch does the work). */
const requests: string[] = [];

beforeAll(async () => {
  env = await startTestCoordinator();
  client = new FlockClient({
    url: env.url,
    apiKey: KEY,
    WebSocket: null,
    fetch: (input, init) => {
      requests.push(`${init?.method ?? 'GET'} ${new URL(input).pathname}`);
      return fetch(input, init);
    },
  });
});

afterAll(async () => {
  await env?.close();
});

const sha256 = (bytes: Uint8Array | string) => createHash('sha256').update(bytes).digest('hex');

describe('typed library helpers', () => {
  it('the generated param types match the method schemas (rerun the generator when this fails)', () => {
    const file = readFileSync(new URL('../src/generated/library-params.ts', import.meta.url), 'utf8');
    expect(file).toBe(paramsTypesSource(METHODS.values()));
  });

  it('refuses a misspelt param before sending anything, with the field', async () => {
    const sent = requests.length;
    const call = client.library(
      'crypto.hash',
      // @ts-expect-error `algorithm` is not a param of crypto.hash (`algorithms` is)
      { algorithm: ['sha256'] },
      [{ name: 'a.txt', bytes: new Uint8Array([1]) }],
    );
    await expect(call).rejects.toMatchObject({
      name: 'FlockError',
      code: 'INVALID_PARAMS',
      field: 'params.algorithm',
      status: 0,
    });
    const wrongCount = client.library('crypto.hash', { algorithms: ['sha256'] }, []);
    await expect(wrongCount).rejects.toMatchObject({ code: 'INPUT_COUNT', field: 'inputs' });
    expect(requests.length).toBe(sent);
  });

  it('runs one task over its files, a large one uploaded as a blob', async () => {
    const big = new Uint8Array(INLINE_INPUT_BYTES + 1).map((_, i) => i & 0xff);
    requests.length = 0;
    const task = await client.library('crypto.hash', { algorithms: ['sha256', 'sha512'] }, [
      { name: 'small.txt', bytes: new TextEncoder().encode('hi') },
      { name: 'big.bin', bytes: big },
    ]);
    expect(task.id).toMatch(/^crypto-hash-[0-9a-f]{16}$/);
    const result = await task.result();
    const digests = JSON.parse(new TextDecoder().decode(await client.outputBytes(result.outputs![0]!)));
    expect(digests['small.txt'].sha256).toBe(sha256('hi'));
    expect(digests['big.bin'].sha256).toBe(sha256(big));
    expect(requests.filter((r) => r.startsWith('POST'))).toEqual(['POST /v1/blobs', 'POST /v1/tasks']);
    const sent = env.volunteer.assignments.find((a) => a.task_id === task.id)?.envelope?.inputs;
    expect(sent?.map((i) => [i.name, i.content_type, i.inline_bytes !== undefined])).toEqual([
      ['small.txt', 'text/plain', true],
      ['big.bin', 'application/octet-stream', false],
    ]);
  });

  it('maps a method over files, one task each, outcomes in file order', async () => {
    const files = ['x.txt', 'y.txt', 'z.txt'].map((name) => ({
      name,
      bytes: new TextEncoder().encode(name),
    }));
    const outcomes = await client.mapLibrary('crypto.hash', { algorithms: ['sha256'] }, files, {
      campaignId: 'sdk-lib-1',
      concurrency: 2,
    });
    expect(outcomes.map((o) => [o.taskId, o.state])).toEqual([
      ['sdk-lib-1-0', 'succeeded'],
      ['sdk-lib-1-1', 'succeeded'],
      ['sdk-lib-1-2', 'succeeded'],
    ]);
    const last = JSON.parse(
      new TextDecoder().decode(await client.outputBytes(outcomes[2]!.result!.outputs![0]!)),
    );
    expect(last).toEqual({ 'z.txt': { sha256: sha256('z.txt') } });
    await expect(
      client.mapLibrary('crypto.nope' as 'crypto.hash', { algorithms: ['sha256'] }, files),
    ).rejects.toThrow(FlockError);
  });
});
