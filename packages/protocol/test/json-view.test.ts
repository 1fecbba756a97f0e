import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import {
  decodeFrame,
  decodeMessage,
  EVENTS,
  encodeFrame,
  encodeMessage,
  eventForPayload,
  fromJson,
  makeFrame,
  ProtocolError,
  type ProtocolErrorCode,
  parseEnvelopeJson,
  type StructName,
  toJson,
} from '../src/index.ts';

/**
 * The JSON examples of the seed's compute-events.md, from the copy in test/fixtures (the seed itself
 * lives outside the repository; no test reads it). The copy's header records where it came from
 * and the seed's hash, which the copy below the header must still have.
 */
const SEED_COPY = readFileSync(join(import.meta.dirname, 'fixtures/compute-events.md'), 'utf8');
const HEADER = /^<!--\n[\s\S]*?\n-->\n/;

function seedExamples(): string[] {
  return [...SEED_COPY.matchAll(/```json\n([\s\S]*?)```/g)].map((m) => m[1]!.trim());
}

test('the fixture is the seed as copied: its body has the sha256 its header records', () => {
  const header = HEADER.exec(SEED_COPY)?.[0] ?? '';
  const recorded = /sha256 ([0-9a-f]{64})/.exec(header)?.[1];
  const body = SEED_COPY.slice(header.length);
  expect(recorded).toBeDefined();
  expect(createHash('sha256').update(body).digest('hex')).toBe(recorded);
});

/** The seed's `...` placeholders, replaced by real values of the right shape. */
function substitute(example: string): string {
  return example
    .replace('"sha256:..."', `"sha256:${'9f'.repeat(32)}"`)
    .replace('"inline_bytes": "..."', '"inline_bytes": "AAECAwQFBgc="')
    .replace('"hmac:..."', '"hmac:dGFzay10b2tlbi1ieXRlcw=="');
}

function codeOf(fn: () => unknown): ProtocolErrorCode | 'no error' {
  try {
    fn();
    return 'no error';
  } catch (error) {
    if (!(error instanceof ProtocolError)) throw error;
    return error.code;
  }
}

describe("the seed's JSON examples", () => {
  const examples = seedExamples();
  const kinds: Array<[StructName, 'envelope' | 'assignment' | 'progress' | 'result']> = [
    ['ComputeEnvelope', 'envelope'],
    ['ComputeAssignment', 'assignment'],
    ['ComputeProgress', 'progress'],
    ['ComputeResult', 'result'],
  ];

  test('there are four, in the order requested, accepted, progress, success', () => {
    expect(examples).toHaveLength(4);
  });

  test.each(kinds.map((k, i) => [...k, i] as const))(
    '%s parses as written and round-trips losslessly',
    (name, kind, i) => {
      const text = substitute(examples[i]!);
      const json = JSON.parse(text);
      const message = fromJson(name, json);
      // JSON → Cap'n Proto (inside a frame) → JSON gives back exactly the seed's JSON.
      const frame = decodeFrame(encodeFrame(makeFrame({ [kind]: message } as never)));
      expect(frame.topic).toBe(eventForPayload(kind));
      expect(toJson(name, (frame.payload as unknown as Record<string, never>)[kind]!)).toEqual(json);
      // And as a bare message.
      expect(toJson(name, decodeMessage(name, encodeMessage(name, message)))).toEqual(json);
    },
  );

  test('the requested example validates as an envelope', () => {
    const envelope = parseEnvelopeJson(substitute(examples[0]!));
    expect(envelope.task_id).toBe('t-123');
    expect(envelope.inputs?.[0]?.inline_bytes).toEqual(new Uint8Array([0, 1, 2, 3, 4, 5, 6, 7]));
    expect(envelope.params).toEqual({ window: 'hann' });
    expect(envelope.requirements?.min?.gpu?.features).toEqual(['shader_f16']);
  });

  test('with the placeholders left in, the hash is refused with INVALID_HASH', () => {
    const raw = examples[0]!.replace('"inline_bytes": "..."', '"inline_bytes": ""');
    expect(codeOf(() => parseEnvelopeJson(raw))).toBe('INVALID_HASH');
  });

  test('the seed names the events as the EVENTS constants do', () => {
    expect(Object.values(EVENTS).slice(0, 7)).toEqual([
      'compute:dispatch:v1:requested',
      'compute:dispatch:v1:accepted',
      'compute:dispatch:v1:progress',
      'compute:dispatch:v1:success',
      'compute:dispatch:v1:failed',
      'compute:dispatch:v1:cancelled',
      'compute:capabilities:v1:update',
    ]);
  });
});

describe('the JSON view is strict', () => {
  test.each([
    ['an unknown field', { task_id: 't', colour: 'red' }, 'UNKNOWN_FIELD', 'colour'],
    ['a misspelt nested field', { module: { knd: 'wasm' } }, 'UNKNOWN_FIELD', 'module.knd'],
    [
      'a number as a string',
      { requirements: { qos: { retries: '2' } } },
      'WRONG_TYPE',
      'requirements.qos.retries',
    ],
    [
      'a fractional integer',
      { requirements: { qos: { retries: 1.5 } } },
      'WRONG_TYPE',
      'requirements.qos.retries',
    ],
    ['an unknown enum', { module: { kind: 'python' } }, 'UNKNOWN_ENUM', 'module.kind'],
    [
      'bad base64',
      { inputs: [{ name: 'a', inline_bytes: 'not base64!' }] },
      'INVALID_BASE64',
      'inputs[0].inline_bytes',
    ],
    ['params as an array', { params: [1, 2] }, 'WRONG_TYPE', 'params'],
    ['an array where an object belongs', { module: [] }, 'WRONG_TYPE', 'module'],
    ['a u32 out of range', { buffers: [{ binding: -1 }] }, 'VALUE_OUT_OF_RANGE', 'buffers[0].binding'],
  ] as const)('%s → %s', (_what, json, code, field) => {
    let caught: ProtocolError | undefined;
    try {
      fromJson('ComputeEnvelope', json);
    } catch (error) {
      caught = error as ProtocolError;
    }
    expect(caught?.code).toBe(code);
    expect(caught?.field).toBe(field);
  });

  test.each([
    ['the value not an object', 'ComputeEnvelope', [], 'WRONG_TYPE', '$'],
    [
      'a list item not an object',
      'ComputeEnvelope',
      { inputs: [{ name: 'a' }, 5] },
      'WRONG_TYPE',
      'inputs[1]',
    ],
    [
      'a forbidden key deep in params',
      'ComputeEnvelope',
      { params: { a: [{ b: JSON.parse('{"__proto__": 1}') }] } },
      'FORBIDDEN_KEY',
      'params.__proto__',
    ],
    [
      'params nested too deep',
      'ComputeEnvelope',
      { params: { a: { b: { c: { d: {} } } } } },
      'PARAMS_TOO_DEEP',
      'params',
    ],
    ['a map value not a string', 'ComputeResult', { metrics: { ms: 3 } }, 'WRONG_TYPE', 'metrics.ms'],
    [
      'a list item of a list',
      'ComputeEnvelope',
      { requirements: { min: { gpu: { features: ['a', 7] } } } },
      'WRONG_TYPE',
      'requirements.min.gpu.features[1]',
    ],
    [
      'two union members, nested',
      'Frame',
      { payload: { hello: {}, welcome: {} } },
      'NOT_EXCLUSIVE',
      'payload.welcome',
    ],
  ] as const)('the field of a nested error: %s → %s', (_what, name, json, code, field) => {
    let caught: ProtocolError | undefined;
    try {
      fromJson(name, json, { maxParamsDepth: 4 });
    } catch (error) {
      caught = error as ProtocolError;
    }
    expect([caught?.code, caught?.field]).toEqual([code, field]);
  });

  test('two members of a nested union → NOT_EXCLUSIVE', () => {
    expect(codeOf(() => fromJson('Frame', { payload: { hello: {}, welcome: {} } }))).toBe('NOT_EXCLUSIVE');
  });

  test('null means absent', () => {
    expect(fromJson('ComputeEnvelope', { task_id: 't', version: null })).toEqual({ task_id: 't' });
  });

  test('invalid JSON text → INVALID_JSON; over the size limit → PARAMS_TOO_LARGE', () => {
    expect(codeOf(() => parseEnvelopeJson('{"task_id": '))).toBe('INVALID_JSON');
    expect(codeOf(() => parseEnvelopeJson(`{"op":"${'x'.repeat(100)}"}`, { maxBytes: 64 }))).toBe(
      'PARAMS_TOO_LARGE',
    );
  });
});

describe('toJson is canonical', () => {
  test('bytes become base64, default scalars are left out, enums always shown', () => {
    const json = toJson('ComputeFailure', {
      task_id: 't',
      code: 'TIMEOUT',
      retryable: false,
      message: '',
    });
    expect(json).toEqual({ task_id: 't', code: 'TIMEOUT' });
    expect(toJson('DataRef', { name: 'x', inline_bytes: new Uint8Array([255, 0]) })).toEqual({
      name: 'x',
      inline_bytes: '/wA=',
    });
    expect(toJson('ModuleSpec', decodeMessage('ModuleSpec', encodeMessage('ModuleSpec', {})))).toEqual({
      kind: 'wasm',
    });
  });
});
