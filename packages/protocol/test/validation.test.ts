import { describe, expect, test } from 'vitest';
import {
  type ComputeEnvelope,
  decodeUtf8Strict,
  ProtocolError,
  type ProtocolErrorCode,
  parseEnvelopeJson,
  validateEnvelope,
} from '../src/index.ts';

const HASH = `sha256:${'0f'.repeat(32)}`;

function valid(): ComputeEnvelope {
  return {
    task_id: 't-1',
    op: 'sum',
    module: { kind: 'wasm', uri: 'https://cdn.example/sum.wasm', hash: HASH, entry: 'sum' },
    requirements: { min: { wasm: true }, qos: { priority: 1, deadline_ms: 60_000, retries: 2 } },
    inputs: [{ name: 'xs', inline_bytes: new Uint8Array([1, 2, 3]) }],
    params: { scale: 2 },
  };
}

function expectError(fn: () => unknown, code: ProtocolErrorCode, field?: string): void {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(ProtocolError);
  expect((caught as ProtocolError).code).toBe(code);
  if (field !== undefined) expect((caught as ProtocolError).field).toBe(field);
}

function mutate(change: (env: ComputeEnvelope) => void): ComputeEnvelope {
  const env = valid();
  change(env);
  return env;
}

test('a complete envelope is valid', () => {
  expect(() => validateEnvelope(valid())).not.toThrow();
});

describe('rule 1: required fields', () => {
  test.each([
    ['task_id', (e: ComputeEnvelope) => delete e.task_id],
    ['op', (e: ComputeEnvelope) => delete e.op],
    ['module.kind', (e: ComputeEnvelope) => delete e.module],
    ['module.kind', (e: ComputeEnvelope) => delete e.module!.kind],
    ['requirements.min', (e: ComputeEnvelope) => delete e.requirements],
    ['requirements.min', (e: ComputeEnvelope) => delete e.requirements!.min],
  ])('missing %s → MISSING_FIELD', (field, change) => {
    expectError(() => validateEnvelope(mutate(change)), 'MISSING_FIELD', field);
  });

  test('an empty task_id counts as missing', () => {
    expectError(() => validateEnvelope(mutate((e) => (e.task_id = ''))), 'MISSING_FIELD', 'task_id');
  });

  test('a task_id with spaces or 201 characters is INVALID_FIELD', () => {
    expectError(() => validateEnvelope(mutate((e) => (e.task_id = 'a b'))), 'INVALID_FIELD', 'task_id');
    expectError(
      () => validateEnvelope(mutate((e) => (e.task_id = 'a'.repeat(201)))),
      'INVALID_FIELD',
      'task_id',
    );
    expect(() => validateEnvelope(mutate((e) => (e.task_id = 'a'.repeat(200))))).not.toThrow();
  });
});

describe('rule 2: DataRef body exclusivity', () => {
  test('no body → BODY_MISSING', () => {
    expectError(
      () => validateEnvelope(mutate((e) => (e.inputs = [{ name: 'xs' }]))),
      'BODY_MISSING',
      'inputs[0]',
    );
  });

  test('two bodies → BODY_NOT_EXCLUSIVE naming the second', () => {
    const env = mutate(
      (e) =>
        (e.inputs = [
          { name: 'a', inline_json: '{}' },
          { name: 'b', inline_json: '1', uri: 'x' },
        ]),
    );
    expectError(() => validateEnvelope(env), 'BODY_NOT_EXCLUSIVE', 'inputs[1].uri');
  });

  test('from JSON, two bodies in one DataRef are refused too', () => {
    const json = JSON.stringify({
      task_id: 't',
      op: 'x',
      module: { kind: 'builtin' },
      requirements: { min: {} },
      inputs: [{ name: 'a', inline_json: '{}', inline_bytes: 'AA==' }],
    });
    expectError(() => parseEnvelopeJson(json), 'BODY_NOT_EXCLUSIVE', 'inputs[0].inline_bytes');
  });

  test('each body kind alone is valid', () => {
    for (const body of [
      { inline_json: '[1]' },
      { inline_bytes: new Uint8Array(0) },
      { uri: 'https://x/y' },
    ]) {
      expect(() => validateEnvelope(mutate((e) => (e.inputs = [{ name: 'a', ...body }])))).not.toThrow();
    }
  });

  test('a DataRef hash is checked', () => {
    const env = mutate((e) => (e.inputs = [{ name: 'a', uri: 'https://x', hash: 'md5:00' }]));
    expectError(() => validateEnvelope(env), 'INVALID_HASH', 'inputs[0].hash');
  });

  test('duplicate input names → INVALID_FIELD', () => {
    const env = mutate(
      (e) =>
        (e.inputs = [
          { name: 'a', uri: 'u' },
          { name: 'a', uri: 'v' },
        ]),
    );
    expectError(() => validateEnvelope(env), 'INVALID_FIELD', 'inputs[1].name');
  });
});

describe('rule 3: GPU requirement expression', () => {
  const wgsl = (min: NonNullable<NonNullable<ComputeEnvelope['requirements']>['min']>): ComputeEnvelope =>
    mutate((e) => {
      e.module = {
        kind: 'wgsl',
        inline: new TextEncoder().encode('@compute @workgroup_size(1) fn main() {}'),
      };
      e.requirements = { min };
    });

  test('a WGSL task without webgpu or gpu → GPU_REQUIREMENT_MISSING', () => {
    expectError(() => validateEnvelope(wgsl({ wasm: true })), 'GPU_REQUIREMENT_MISSING', 'requirements.min');
  });

  test('min.webgpu = true or min.gpu satisfy it', () => {
    expect(() => validateEnvelope(wgsl({ webgpu: true }))).not.toThrow();
    expect(() =>
      validateEnvelope(wgsl({ gpu: { backend: 'webgpu', features: ['shader_f16'] } })),
    ).not.toThrow();
  });

  test('gpu_access permission on a WASM module needs the GPU requirement too', () => {
    const env = mutate((e) => (e.module!.permissions = { gpu_access: true }));
    expectError(() => validateEnvelope(env), 'GPU_REQUIREMENT_MISSING', 'requirements.min');
  });

  test('a non-webgpu backend and a malformed feature name are INVALID_FIELD', () => {
    expectError(
      () => validateEnvelope(wgsl({ gpu: { backend: 'cuda' } })),
      'INVALID_FIELD',
      'requirements.min.gpu.backend',
    );
    expectError(
      () => validateEnvelope(wgsl({ gpu: { features: ['Shader F16'] } })),
      'INVALID_FIELD',
      'requirements.min.gpu.features[0]',
    );
  });
});

describe('rule 4: module integrity', () => {
  test.each(['https://cdn/m.wasm', 'http://cdn/m.wasm', 's3://bucket/m.wasm', 'ipfs://Qm/m.wasm'])(
    'remote uri %s without hash → HASH_REQUIRED',
    (uri) => {
      const env = mutate((e) => {
        e.module!.uri = uri;
        delete e.module!.hash;
      });
      expectError(() => validateEnvelope(env), 'HASH_REQUIRED', 'module.hash');
    },
  );

  test.each([
    ['md5:0f0f', 'INVALID_HASH'],
    [`sha256:${'0f'.repeat(31)}`, 'INVALID_HASH'],
    [`sha256:${'0F'.repeat(32)}`, 'INVALID_HASH'],
    [`blake3:${'ab'.repeat(33)}`, 'INVALID_HASH'],
  ] as const)('hash %s → %s', (hash, code) => {
    expectError(() => validateEnvelope(mutate((e) => (e.module!.hash = hash))), code, 'module.hash');
  });

  test('sha256 and blake3 with 64 hex digits are accepted', () => {
    expect(() =>
      validateEnvelope(mutate((e) => (e.module!.hash = `blake3:${'a1'.repeat(32)}`))),
    ).not.toThrow();
  });

  test('an uploaded module (flock:sha256:...) needs no separate hash', () => {
    const env = mutate((e) => (e.module = { kind: 'wasm', uri: `flock:${HASH}` }));
    expect(() => validateEnvelope(env)).not.toThrow();
  });

  test('a wasm module with neither uri nor inline → MODULE_SOURCE_MISSING; builtin needs none', () => {
    expectError(
      () => validateEnvelope(mutate((e) => (e.module = { kind: 'wasm' }))),
      'MODULE_SOURCE_MISSING',
      'module',
    );
    expect(() => validateEnvelope(mutate((e) => (e.module = { kind: 'builtin' })))).not.toThrow();
  });

  test('memory_pages past 65,536 (a 32-bit memory) → VALUE_OUT_OF_RANGE; 65,536 is accepted', () => {
    const pages = (n: number) => mutate((e) => (e.module!.permissions = { memory_pages: n }));
    expectError(
      () => validateEnvelope(pages(65_537)),
      'VALUE_OUT_OF_RANGE',
      'module.permissions.memory_pages',
    );
    expect(() => validateEnvelope(pages(65_536))).not.toThrow();
  });

  test('uri and inline together → BODY_NOT_EXCLUSIVE', () => {
    const env = mutate((e) => (e.module!.inline = new Uint8Array([0])));
    expectError(() => validateEnvelope(env), 'BODY_NOT_EXCLUSIVE', 'module.inline');
  });
});

describe('rule 5: QoS ranges', () => {
  test.each([
    ['priority', 11],
    ['priority', -11],
    ['deadline_ms', 30 * 24 * 3600 * 1000 + 1],
    ['retries', 21],
  ] as const)('%s = %d → QOS_OUT_OF_RANGE', (key, value) => {
    const env = mutate((e) => (e.requirements!.qos = { [key]: value }));
    expectError(() => validateEnvelope(env), 'QOS_OUT_OF_RANGE', `requirements.qos.${key}`);
  });

  test('the bounds themselves are accepted', () => {
    const env = mutate(
      (e) => (e.requirements!.qos = { priority: -10, deadline_ms: 30 * 24 * 3600 * 1000, retries: 20 }),
    );
    expect(() => validateEnvelope(env)).not.toThrow();
  });
});

describe('rule 6: security token', () => {
  test('a security block without task_token → MISSING_FIELD', () => {
    expectError(
      () => validateEnvelope(mutate((e) => (e.security = {}))),
      'MISSING_FIELD',
      'security.task_token',
    );
  });

  test('requireTaskToken makes it mandatory', () => {
    expectError(
      () => validateEnvelope(valid(), { requireTaskToken: true }),
      'MISSING_FIELD',
      'security.task_token',
    );
  });

  test('a token that is not hmac:... → INVALID_TOKEN', () => {
    const env = mutate((e) => (e.security = { task_token: 'plain-secret-1234567890' }));
    expectError(() => validateEnvelope(env), 'INVALID_TOKEN', 'security.task_token');
  });

  test('an hmac token passes', () => {
    const env = mutate((e) => (e.security = { task_token: 'hmac:c2lnbmF0dXJlLWJ5dGVz' }));
    expect(() => validateEnvelope(env, { requireTaskToken: true })).not.toThrow();
  });
});

describe('params', () => {
  const nest = (depth: number): Record<string, unknown> => {
    let value: Record<string, unknown> = {};
    for (let i = 1; i < depth; i++) value = { a: value };
    return value;
  };

  test('64 levels pass, 65 → PARAMS_TOO_DEEP', () => {
    expect(() => validateEnvelope(mutate((e) => (e.params = nest(64) as never)))).not.toThrow();
    expectError(
      () => validateEnvelope(mutate((e) => (e.params = nest(65) as never))),
      'PARAMS_TOO_DEEP',
      'params',
    );
  });

  test('over 1 MiB → PARAMS_TOO_LARGE', () => {
    const env = mutate((e) => (e.params = { blob: 'x'.repeat(1 << 20) }));
    expectError(() => validateEnvelope(env), 'PARAMS_TOO_LARGE', 'params');
  });

  test.each(['__proto__', 'constructor', 'prototype'])('a "%s" key at depth 3 → FORBIDDEN_KEY', (key) => {
    const params = JSON.parse(`{"a":{"b":{"${key}":{"polluted":true}}}}`);
    expectError(() => validateEnvelope(mutate((e) => (e.params = params))), 'FORBIDDEN_KEY', `params.${key}`);
  });

  test('the same words as string values are fine (parsing, not substring search)', () => {
    const params = { note: '__proto__ constructor prototype', list: ['__proto__'] };
    expect(() => validateEnvelope(mutate((e) => (e.params = params)))).not.toThrow();
  });

  test('parsing JSON text with "__proto__" does not pollute Object.prototype', () => {
    const json = JSON.stringify({ ...toJsonBase(), params: {} }).replace(
      '"params":{}',
      '"params":{"__proto__":{"x":1}}',
    );
    expectError(() => parseEnvelopeJson(json), 'FORBIDDEN_KEY');
    expect(({} as Record<string, unknown>)['x']).toBeUndefined();
  });
});

function toJsonBase(): Record<string, unknown> {
  return { task_id: 't', op: 'x', module: { kind: 'builtin' }, requirements: { min: {} } };
}

test('verification quorum above replicas → INVALID_FIELD', () => {
  const env = mutate((e) => (e.verification = { replicas: 2, quorum: 3 }));
  expectError(() => validateEnvelope(env), 'INVALID_FIELD', 'verification.quorum');
});

describe('text is well-formed Unicode everywhere (what is accepted can be encoded)', () => {
  const lone = 'a\ud800b';
  test.each([
    ['op', (e: ComputeEnvelope) => (e.op = lone)],
    ['return_channel', (e: ComputeEnvelope) => (e.return_channel = lone)],
    ['inputs[0].name', (e: ComputeEnvelope) => (e.inputs![0]!.name = lone)],
    ['inputs[0].content_type', (e: ComputeEnvelope) => (e.inputs![0]!.content_type = lone)],
    ['module.entry', (e: ComputeEnvelope) => (e.module!.entry = lone)],
    ['params.note', (e: ComputeEnvelope) => (e.params = { note: lone })],
    ['params.list[1]', (e: ComputeEnvelope) => (e.params = { list: ['ok', '\udfff'] })],
    ['params.a\ud800', (e: ComputeEnvelope) => (e.params = { ['a\ud800']: 1 })],
  ])('a lone surrogate in %s → INVALID_TEXT naming the field', (field, change) => {
    expectError(() => validateEnvelope(mutate(change)), 'INVALID_TEXT', field);
  });

  test('JSON text with an escaped lone surrogate is refused when parsed, with the field', () => {
    const json = JSON.stringify({ ...toJsonBase(), op: 'x' }).replace('"op":"x"', '"op":"\\ud800"');
    expectError(() => parseEnvelopeJson(json), 'INVALID_TEXT', 'op');
  });

  test('surrogate pairs, other scripts and bytes that are not UTF-8 (inline_bytes) are fine', () => {
    const env = mutate((e) => {
      e.op = 'résumé-😀-数据';
      e.params = { emoji: '🚀', key: '\u{10ffff}' };
      e.inputs = [{ name: 'x', inline_bytes: new Uint8Array([0xed, 0xa0, 0x80, 0xff]) }];
    });
    expect(() => validateEnvelope(env)).not.toThrow();
  });

  test('decodeUtf8Strict refuses invalid UTF-8 instead of writing U+FFFD', () => {
    expect(decodeUtf8Strict(new Uint8Array([0x68, 0xc3, 0xa9]))).toBe('hé');
    expectError(() => decodeUtf8Strict(new Uint8Array([0x7b, 0xc0, 0xaf, 0x7d]), '$'), 'INVALID_TEXT', '$');
  });
});
