import { createHash } from 'node:crypto';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import {
  LibraryKnownAnswers,
  MAX_CHECK_ARGON2_KIB_PASSES,
  MAX_CHECK_INPUT_BYTES,
} from '../src/trust/library-known-answers.ts';
import { rng } from './support/rng.ts';

const template = {
  task_id: 'job-1c2d3e4f',
  op: 'crypto.hash',
  version: '1.0.0',
  module: { kind: 'library' as const },
  inputs: [
    { name: 'a.bin', content_type: 'application/octet-stream', inline_bytes: new Uint8Array(100).fill(7) },
    { name: 'b.bin', content_type: 'application/octet-stream', inline_bytes: new Uint8Array(33).fill(1) },
  ],
  params: { algorithms: ['sha256'] },
  security: { task_token: 'hmac:requester' },
};

describe('known answers for library methods, from their Node reference', () => {
  it('imitates a crypto task with fresh inputs of the same sizes and expects the reference’s digests', async () => {
    const source = new LibraryKnownAnswers();
    const answer = (await source.make({
      workerId: 'w',
      adapterClass: 'cpu/wasm',
      template,
      random: rng(3),
    }))!;
    const env = answer.envelope;
    expect(env.task_id).toMatch(/^job-[0-9a-f]{8}$/);
    expect(env.task_id).not.toBe(template.task_id);
    expect(env).toMatchObject({
      op: 'crypto.hash',
      module: { kind: 'library' },
      params: { algorithms: ['sha256'] },
    });
    expect(env.security).toBeUndefined();
    expect(env.inputs!.map((i) => [i.name, i.inline_bytes!.byteLength])).toEqual([
      ['a.bin', 100],
      ['b.bin', 33],
    ]);
    expect(env.inputs![0]!.inline_bytes).not.toEqual(template.inputs[0]!.inline_bytes);
    expect(answer.moduleHash).toBe('library:crypto.hash');
    const digests = JSON.parse(new TextDecoder().decode(answer.expected['digests.json']));
    expect(digests).toEqual({
      'a.bin': { sha256: createHash('sha256').update(env.inputs![0]!.inline_bytes!).digest('hex') },
      'b.bin': { sha256: createHash('sha256').update(env.inputs![1]!.inline_bytes!).digest('hex') },
    });
  });

  it('passes the reference’s outputs and fails wrong, missing or extra ones', async () => {
    const source = new LibraryKnownAnswers();
    const answer = (await source.make({
      workerId: 'w',
      adapterClass: 'cpu/wasm',
      template,
      random: rng(4),
    }))!;
    const right = answer.expected['digests.json']!;
    const wrong = right.slice();
    wrong[20]! ^= 1;
    expect(await source.check(answer, [{ name: 'digests.json', bytes: right }])).toBe(true);
    expect(await source.check(answer, [{ name: 'digests.json', bytes: wrong }])).toBe(false);
    expect(await source.check(answer, [{ name: 'digests.json', hash: 'sha256:00' }])).toBe(false);
    expect(await source.check(answer, [])).toBe(false);
    expect(
      await source.check(answer, [
        { name: 'digests.json', bytes: right },
        { name: 'extra', bytes: right },
      ]),
    ).toBe(false);
  });

  it('makes no check for other modules, blob inputs, inputs too large to compute here, or calls the reference refuses', async () => {
    const source = new LibraryKnownAnswers();
    const req = (t: object) =>
      source.make({ workerId: 'w', adapterClass: 'cpu/wasm', template: t as never, random: rng(5) });
    expect(await req({ ...template, module: { kind: 'builtin' }, op: 'saxpy' })).toBeUndefined();
    expect(
      await req({ ...template, inputs: [{ name: 'a.bin', hash: 'sha256:ab', size: 10 }] }),
    ).toBeUndefined();
    expect(await req({ ...template, params: { algorithms: ['md5'] } })).toBeUndefined();
    const big = {
      name: 'big.bin',
      content_type: 'application/octet-stream',
      inline_bytes: new Uint8Array(MAX_CHECK_INPUT_BYTES + 1),
    };
    expect(await req({ ...template, inputs: [big] })).toBeUndefined();
    expect(
      await req({ ...template, inputs: [{ ...big, inline_bytes: big.inline_bytes.subarray(1) }] }),
    ).toBeDefined();
  });

  it('judges image outputs by their decoded pixels, within the method’s tolerance', async () => {
    const png = await sharp({
      create: { width: 32, height: 24, channels: 3, background: { r: 200, g: 100, b: 50 } },
    })
      .png()
      .toBuffer();
    const imageTemplate = {
      task_id: 'job-0a0b0c0d',
      op: 'image.invert',
      module: { kind: 'library' as const },
      inputs: [{ name: 'a.png', content_type: 'image/png', inline_bytes: new Uint8Array(png) }],
      params: {},
    };
    const source = new LibraryKnownAnswers();
    const answer = (await source.make({
      workerId: 'w',
      adapterClass: 'cpu/wasm',
      template: imageTemplate,
      random: rng(6),
    }))!;
    // Random bytes are no image: the check carries the task's own input.
    expect(answer.envelope.inputs![0]!.inline_bytes).toEqual(new Uint8Array(png));
    const want = answer.expected['a.png']!;
    const { data } = await sharp(want).raw().toBuffer({ resolveWithObject: true });
    expect([...data.subarray(0, 3)]).toEqual([55, 155, 205]);
    // The same pixels encoded otherwise agree; pixels 40 levels off do not; a JPEG of other size neither.
    const recoded = new Uint8Array(await sharp(want).png({ compressionLevel: 0 }).toBuffer());
    expect(recoded).not.toEqual(want);
    expect(await source.check(answer, [{ name: 'a.png', bytes: recoded }])).toBe(true);
    const off = new Uint8Array(await sharp(want).linear(1, 40).png().toBuffer());
    expect(await source.check(answer, [{ name: 'a.png', bytes: off }])).toBe(false);
    const other = new Uint8Array(await sharp(want).resize(16).jpeg().toBuffer());
    expect(await source.check(answer, [{ name: 'a.png', bytes: other }])).toBe(false);
    expect(await source.check(answer, [{ name: 'a.png', bytes: new Uint8Array([1, 2, 3]) }])).toBe(false);
  });

  it('a reference past its budget makes no check, within the budget, and its template is skipped at once after', async () => {
    const source = new LibraryKnownAnswers(() => undefined, 300);
    const slow = {
      task_id: 'job-510w',
      op: 'data.query',
      module: { kind: 'library' as const },
      // Hours natively: the check must not wait for it (dispatch waits for the check).
      params: { sql: 'SELECT count(*) AS n FROM range(1000000000000)' },
      inputs: [{ name: 't.csv', content_type: 'text/csv', inline_bytes: new TextEncoder().encode('a\n1\n') }],
    };
    const req = (t: object, seed: number) =>
      source.make({ workerId: 'w', adapterClass: 'cpu/wasm', template: t as never, random: rng(seed) });
    let from = Date.now();
    expect(await req(slow, 7)).toBeUndefined();
    expect(Date.now() - from).toBeLessThan(3_000);
    from = Date.now();
    expect(await req(slow, 8)).toBeUndefined();
    expect(Date.now() - from).toBeLessThan(100);
    // The next template's reference runs (on the default budget: a cold load may pass 300 ms).
    const quick = { ...slow, task_id: 'job-90ic', params: { sql: 'SELECT a + 1 AS b FROM t' } };
    const answer = (await new LibraryKnownAnswers().make({
      workerId: 'w',
      adapterClass: 'cpu/wasm',
      template: quick as never,
      random: rng(9),
    }))!;
    expect(new TextDecoder().decode(answer.expected['result.csv'])).toBe('b\n2\n');
  });

  it('a crypto check asks the reference for at most MAX_CHECK_ARGON2_KIB_PASSES of argon2id (it runs on the event loop)', async () => {
    const source = new LibraryKnownAnswers();
    const req = (argon2: object, inputs = template.inputs) =>
      source.make({
        workerId: 'w',
        adapterClass: 'cpu/wasm',
        template: { ...template, inputs, params: { algorithms: ['argon2id'], argon2 } } as never,
        random: rng(10),
      });
    const salt = '00112233445566778899';
    const one = [template.inputs[0]!];
    expect(await req({ salt, memory_kib: MAX_CHECK_ARGON2_KIB_PASSES, iterations: 1 }, one)).toBeDefined();
    expect(await req({ salt, memory_kib: MAX_CHECK_ARGON2_KIB_PASSES / 2, iterations: 1 })).toBeDefined();
    expect(await req({ salt, memory_kib: MAX_CHECK_ARGON2_KIB_PASSES, iterations: 1 })).toBeUndefined();
    // The method's defaults: 64 MiB, 3 passes.
    expect(await req({ salt }, one)).toBeUndefined();
    expect(await req({ salt, memory_kib: 262_144, iterations: 16, parallelism: 4 })).toBeUndefined();
  });
});
