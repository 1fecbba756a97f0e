// Property tests and fuzzing of the codec (issue #2, item 8), with fast-check. Messages come from
// arbitraries built from the generated descriptor table. Case counts come from FLOCK_FUZZ_RUNS:
// the default keeps CI fast (a few thousand cases in all); `npm run fuzz -w @flock/protocol` runs
// 100,000 per property.
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { readRoutingWithCapnpEs } from '../src/frame-codec.ts';
import {
  DEFAULT_LIMITS,
  decodeFrame,
  decodeFramePayload,
  decodeMessage,
  encodeFrame,
  encodeMessage,
  type Frame,
  fromJson,
  makeFrame,
  ProtocolError,
  type ProtocolErrorCode,
  readRouting,
  toJson,
} from '../src/index.ts';
import { checkFraming } from '../src/message-framing.ts';
import { readRoutingFields } from '../src/routing-reader.ts';
import { visibleFields } from '../src/struct-descriptors.ts';
import { MessageArbitraries, ROOT_STRUCTS } from './support/arbitraries.ts';
import { canonical } from './support/canonical.ts';
import {
  aliasPointerList,
  ELEMENT_SIZE,
  findListPointer,
  MAX_LIST_COUNT,
  truncateSegment,
  withListPointer,
  withZeroSizeStructList,
} from './support/wire.ts';
import { measureWork } from './support/work-meter.ts';

const DEFAULT_RUNS = 1000;
const RUNS = fuzzRuns();
/** Generous per-test limit: 10 ms a case, never below the default minute. */
const TIMEOUT_MS = Math.max(60_000, RUNS * 10);
const SEED = process.env['FLOCK_FUZZ_SEED'] ? Number(process.env['FLOCK_FUZZ_SEED']) : undefined;
const params = (numRuns = RUNS): fc.Parameters<unknown> =>
  SEED === undefined ? { numRuns } : { numRuns, seed: SEED };

function fuzzRuns(): number {
  const raw = process.env['FLOCK_FUZZ_RUNS'];
  if (raw === undefined || raw === '') return DEFAULT_RUNS;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1)
    throw new Error(`FLOCK_FUZZ_RUNS must be a positive integer, got "${raw}"`);
  return n;
}

/** Every code decoding may throw (README "Limits"): hostile bytes yield one of these, nothing else. */
const DECODE_CODES: ReadonlySet<ProtocolErrorCode> = new Set<ProtocolErrorCode>([
  'FRAME_TOO_LARGE',
  'FRAME_TOO_SHORT',
  'MALFORMED_FRAME',
  'INVALID_TEXT',
  'TOO_MANY_SEGMENTS',
  'TRAVERSAL_LIMIT',
  'NESTING_TOO_DEEP',
  'LIST_TOO_LONG',
  'VALUE_OUT_OF_RANGE',
  'UNKNOWN_ENUM',
  'PAYLOAD_MISSING',
  'INVALID_JSON',
  'WRONG_TYPE',
  'PARAMS_TOO_LARGE',
  'PARAMS_TOO_DEEP',
  'FORBIDDEN_KEY',
]);

/**
 * Decoding work allowed per input byte, in DataView reads. The decoder allows 4 pointers and 4
 * list elements per byte, and one element of the widest struct costs a few reads per field; the
 * worst crafted frames measured (lists of zero-size structs) cost about 21 reads a byte.
 */
const READS_PER_BYTE = 64;
const READS_FIXED = 4096;
/** Output allowed per input byte: string characters, bytes and list elements together. */
const OUTPUT_PER_BYTE = 40;

const arbs = new MessageArbitraries();

/** Flip up to 8 bits, or overwrite up to 3 words with one random word (pointer-shaped or not). */
const mutation = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.array(fc.nat(), { minLength: 1, maxLength: 8 }) }),
  fc.record({
    kind: fc.constant('word' as const),
    at: fc.array(fc.nat(), { minLength: 1, maxLength: 3 }),
    word: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
  }),
);
type Mutation = typeof mutation extends fc.Arbitrary<infer M> ? M : never;

function mutate(bytes: Uint8Array, m: Mutation): Uint8Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (const n of m.at) {
    if (m.kind === 'flip') {
      const bit = n % (bytes.length * 8);
      bytes[bit >> 3]! ^= 1 << (bit & 7);
    } else {
      view.setBigUint64((n % (bytes.length / 8)) * 8, m.word, true);
    }
  }
  return bytes;
}

function codeOf(fn: () => unknown): ProtocolErrorCode | 'ok' | 'not a ProtocolError' {
  try {
    fn();
    return 'ok';
  } catch (error) {
    return error instanceof ProtocolError ? error.code : 'not a ProtocolError';
  }
}

/** Deep strict equality (-0 is not 0; classes must match); vitest's diff only on a mismatch. */
function expectEqual(actual: unknown, expected: unknown): void {
  if (!isDeepStrictEqual(actual, expected)) expect(actual).toStrictEqual(expected);
}

/** Runs a decoder on hostile bytes: it returns, or throws a ProtocolError with a decode code. */
function expectOnlyProtocolErrors<T>(fn: () => T): {
  code: ProtocolErrorCode | 'ok';
  reads: number;
  value?: T;
} {
  const work = measureWork(fn);
  if ('error' in work) {
    const error = work.error;
    if (!(error instanceof ProtocolError)) {
      throw new Error(`not a ProtocolError: ${error instanceof Error ? error.stack : String(error)}`);
    }
    if (!DECODE_CODES.has(error.code)) throw new Error(`unexpected code ${error.code}: ${error.message}`);
    return { code: error.code, reads: work.reads };
  }
  return { code: 'ok', reads: work.reads, ...(work.value !== undefined ? { value: work.value } : {}) };
}

/** How much a decoded value holds: characters, bytes and elements. */
function outputSize(value: unknown): number {
  if (typeof value === 'string') return value.length + 1;
  if (value instanceof Uint8Array) return value.length + 1;
  if (Array.isArray(value)) return value.reduce((sum: number, v) => sum + outputSize(v), 1);
  if (value !== null && typeof value === 'object') {
    return Object.entries(value).reduce((sum, [k, v]) => sum + k.length + outputSize(v), 1);
  }
  return 1;
}

function expectBoundedWork(bytes: Uint8Array, reads: number, value: unknown): void {
  expect(reads).toBeLessThanOrEqual(READS_FIXED + READS_PER_BYTE * bytes.length);
  if (value !== undefined) expect(outputSize(value)).toBeLessThanOrEqual(64 + OUTPUT_PER_BYTE * bytes.length);
}

/** The payload kinds whose struct has a task_id (what readRouting reports). */
function routingOf(frame: Frame): { type: string; topic: string; payload: string; task_id: string } {
  const payload = frame.payload as unknown as Record<string, Record<string, unknown>>;
  const kind = Object.keys(payload)[0]!;
  const member = visibleFields('Frame_Payload').find((f) => f.json === kind)!;
  const hasTaskId =
    member.type.k === 'struct' && visibleFields(member.type.s).some((f) => f.json === 'task_id');
  return {
    type: frame.type!,
    topic: frame.topic ?? '',
    payload: kind,
    task_id: hasTaskId ? ((payload[kind]!['task_id'] as string | undefined) ?? '') : '',
  };
}

describe('round trips', () => {
  it(
    'decode(encode(m)) equals the canonical form of m, for every root struct',
    () => {
      fc.assert(
        fc.property(arbs.anyMessage(), ({ name, message }) => {
          const bytes = encodeMessage(name, message as never);
          expectEqual(decodeMessage(name, bytes), canonical(name, message));
        }),
        params(),
      );
    },
    TIMEOUT_MS,
  );

  it(
    'decodeFrame(encodeFrame(f)) equals the canonical frame, and readRouting agrees with it',
    () => {
      fc.assert(
        fc.property(arbs.frame(), (frame) => {
          const bytes = encodeFrame(frame as Frame);
          const decoded = decodeFrame(bytes);
          expectEqual(decoded, canonical('Frame', frame));
          expect(readRouting(bytes)).toStrictEqual(routingOf(decoded));
        }),
        params(),
      );
    },
    TIMEOUT_MS,
  );

  it(
    'the JSON view round-trips: fromJson(JSON text of toJson(m)) = m, and encodes to the same bytes',
    () => {
      fc.assert(
        fc.property(arbs.anyMessage(), ({ name, message }) => {
          const m = canonical(name, message);
          const text = JSON.stringify(toJson(name, m as never));
          const back = fromJson(name, JSON.parse(text));
          expectEqual(back, m);
          expectEqual(encodeMessage(name, back), encodeMessage(name, m as never));
        }),
        params(),
      );
    },
    TIMEOUT_MS,
  );
});

describe('readRouting: the direct reader agrees with capnp-es', () => {
  it(
    'on every frame Flock encodes it answers, and gives what capnp-es gives; on mutated frames it answers only when capnp-es agrees',
    () => {
      let direct = 0;
      fc.assert(
        fc.property(arbs.frame(), mutation, (frame, m) => {
          const bytes = encodeFrame(frame as Frame);
          const fields = readRoutingFields(bytes);
          expect(fields).toBeDefined();
          expectEqual(fields, readRoutingWithCapnpEs(bytes, DEFAULT_LIMITS));
          const mutated = mutate(bytes, m);
          if (codeOf(() => checkFraming(mutated, DEFAULT_LIMITS)) !== 'ok') return;
          const answer = readRoutingFields(mutated);
          if (answer === undefined) return;
          direct++;
          // When the direct reader answers, capnp-es must return the very same fields.
          expectEqual(answer, readRoutingWithCapnpEs(mutated, DEFAULT_LIMITS));
        }),
        params(),
      );
      expect(direct).toBeGreaterThan(0);
    },
    TIMEOUT_MS,
  );
});

describe('decodeFramePayload: the payload of decodeFrame, without the header built', () => {
  /** The payload, or the error's code, field and message: what a receiver of the frame sees. */
  function outcome(fn: () => unknown): unknown {
    try {
      return { payload: fn() };
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error;
      return { code: error.code, field: error.field, message: error.message };
    }
  }

  it(
    'gives the same payload or the same error as decodeFrame, on every frame and on mutated ones',
    () => {
      const codes = new Set<string>();
      fc.assert(
        fc.property(arbs.frame(), mutation, (frame, m) => {
          const bytes = encodeFrame(frame as Frame);
          expectEqual(decodeFramePayload(bytes), decodeFrame(bytes).payload);
          const mutated = mutate(bytes, m);
          const full = outcome(() => decodeFrame(mutated).payload);
          codes.add((full as { code?: string }).code ?? 'ok');
          expectEqual(
            outcome(() => decodeFramePayload(mutated)),
            full,
          );
        }),
        params(),
      );
      expect(codes.has('ok')).toBe(true);
      expect(codes.has('MALFORMED_FRAME')).toBe(true);
    },
    TIMEOUT_MS,
  );

  it('checks the header it does not build: a bad text or enum there is refused as decodeFrame refuses it', () => {
    const frame = makeFrame(
      { result: { task_id: 't', lease_id: 'l', outputs: [{ name: 'sum', inline_json: '1' }] } },
      { id: 'frame-id', trace: { span_id: 'span-é' }, metadata: { tenant: 'a' } },
    );
    const bytes = encodeFrame(frame);
    expect(decodeFramePayload(bytes)).toStrictEqual(decodeFrame(bytes).payload);
    // The trace's span id with a lone continuation byte (é is C3 A9: A9 alone is not UTF-8).
    const span = new TextEncoder().encode('span-é');
    const at = bytes.findIndex((_, i) => span.every((b, k) => bytes[i + k] === b));
    const badText = bytes.slice();
    badText[at + 5] = 0xa9;
    expect(outcome(() => decodeFramePayload(badText))).toStrictEqual({
      code: 'INVALID_TEXT',
      field: 'trace.span_id',
      message: 'text is not valid UTF-8',
    });
    expect(outcome(() => decodeFramePayload(badText))).toStrictEqual(outcome(() => decodeFrame(badText)));
    // The frame id's NUL terminator overwritten.
    const id = new TextEncoder().encode('frame-id');
    const idAt = bytes.findIndex((_, i) => id.every((b, k) => bytes[i + k] === b));
    const unterminated = bytes.slice();
    unterminated[idAt + id.length] = 0x41;
    expect(outcome(() => decodeFramePayload(unterminated))).toStrictEqual({
      code: 'MALFORMED_FRAME',
      field: 'id',
      message: 'text is not NUL-terminated',
    });
  });
});

describe('text edge cases found by fuzzing', () => {
  // Found by `npm run fuzz` (seed -1962904246): a default TextDecoder strips a leading byte-order
  // mark, so "\ufeffabc" decoded as "abc" (capnp-es 0.0.16 still does, on the multi-segment
  // fallback path). The direct reader keeps it.
  it('a Text field that starts with U+FEFF keeps it through encode and decode', () => {
    const bytes = encodeMessage('ComputeCancelled', { task_id: '\ufeffabc' });
    expect(decodeMessage('ComputeCancelled', bytes).task_id).toBe('\ufeffabc');
  });
});

describe('hostile bytes yield only ProtocolError', () => {
  const anyRoot = fc.constantFrom(...ROOT_STRUCTS);

  it(
    'random bytes, raw and behind a valid single-segment header',
    () => {
      const framed = fc.array(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), { maxLength: 48 }).map((words) => {
        const bytes = new Uint8Array(8 + words.length * 8);
        const view = new DataView(bytes.buffer);
        view.setUint32(4, words.length, true);
        for (const [i, w] of words.entries()) view.setBigUint64(8 + i * 8, w, true);
        return bytes;
      });
      fc.assert(
        fc.property(fc.oneof(fc.uint8Array({ maxLength: 512 }), framed), anyRoot, (bytes, name) => {
          const frame = expectOnlyProtocolErrors(() => decodeFrame(bytes));
          expectBoundedWork(bytes, frame.reads, frame.value);
          expectOnlyProtocolErrors(() => readRouting(bytes));
          const message = expectOnlyProtocolErrors(() => decodeMessage(name, bytes));
          expectBoundedWork(bytes, message.reads, message.value);
        }),
        params(),
      );
    },
    TIMEOUT_MS,
  );

  it(
    'bit-flipped and word-overwritten valid frames, with work bounded by the input size',
    () => {
      const codes = new Map<string, number>();
      fc.assert(
        fc.property(arbs.frame(), mutation, (frame, m) => {
          const bytes = mutate(encodeFrame(frame as Frame), m);
          const decoded = expectOnlyProtocolErrors(() => decodeFrame(bytes));
          codes.set(decoded.code, (codes.get(decoded.code) ?? 0) + 1);
          expectBoundedWork(bytes, decoded.reads, decoded.value);
          const routing = expectOnlyProtocolErrors(() => readRouting(bytes));
          expectBoundedWork(bytes, routing.reads, routing.value);
        }),
        params(),
      );
      // The mutations reach past the framing check into the pointer and value decoders.
      expect(codes.get('ok')).toBeGreaterThan(0);
      expect(codes.get('MALFORMED_FRAME')).toBeGreaterThan(0);
      if (RUNS >= DEFAULT_RUNS) expect(codes.size).toBeGreaterThanOrEqual(4);
      console.info(`mutated frames (${RUNS}): ${JSON.stringify(Object.fromEntries(codes))}`);
    },
    TIMEOUT_MS,
  );

  it(
    'truncated frames: raw truncation is MALFORMED_FRAME, a patched segment table only ProtocolError',
    () => {
      fc.assert(
        fc.property(arbs.frame(), fc.nat(), (frame, cut) => {
          const bytes = encodeFrame(frame as Frame);
          const length = cut % bytes.length;
          const raw = expectOnlyProtocolErrors(() => decodeFrame(bytes.subarray(0, length)));
          expect(raw.code).toBe(length < 8 ? 'FRAME_TOO_SHORT' : 'MALFORMED_FRAME');
          const words = Math.max(1, Math.floor(length / 8));
          const patched = truncateSegment(bytes, words * 8);
          const decoded = expectOnlyProtocolErrors(() => decodeFrame(patched));
          expectBoundedWork(patched, decoded.reads, decoded.value);
          expectOnlyProtocolErrors(() => readRouting(patched));
        }),
        params(),
      );
    },
    TIMEOUT_MS,
  );
});

describe('decoding work is bounded by the input size', () => {
  // Both lists are rewritten to claim 2^29 - 1 elements of size VOID: zero bytes each, so the
  // claim costs nothing to make; only the element budget stops a 2^29-step loop.
  const cases = [
    {
      field: 'payload.capability.gpu.features',
      frame: makeFrame({ capability: { gpu: { features: ['shader-f16'] } } }),
      list: { size: ELEMENT_SIZE.pointer, count: 1 },
    },
    {
      field: 'payload.envelope.module.workgroups',
      frame: makeFrame({ envelope: { task_id: 't-1', module: { kind: 'wgsl', workgroups: [64] } } }),
      list: { size: ELEMENT_SIZE.fourBytes, count: 1 },
    },
  ];

  for (const { field, frame, list } of cases) {
    it(`a VOID list claiming 2^29 elements at ${field} → LIST_TOO_LONG after a few reads`, () => {
      const bytes = encodeFrame(frame);
      const at = findListPointer(bytes, list.size, list.count);
      const hostile = withListPointer(bytes, at, ELEMENT_SIZE.void, MAX_LIST_COUNT);
      const started = performance.now();
      const work = measureWork(() => decodeFrame(hostile));
      const elapsed = performance.now() - started;
      expect(work.error).toBeInstanceOf(ProtocolError);
      expect((work.error as ProtocolError).code).toBe('LIST_TOO_LONG');
      expect((work.error as ProtocolError).field).toBe(field);
      // 2^29 iterations would need 5e8 reads at least; the decoder stopped after a few hundred.
      expect(work.reads).toBeLessThan(2_000);
      expect(elapsed).toBeLessThan(250);
      // The routing read never touches the payload's lists.
      expect(readRouting(hostile).payload).toBe(Object.keys(frame.payload!)[0]);
      // The untouched frame decodes, so it is the claim that is refused.
      expect(decodeFrame(bytes)).toStrictEqual(canonical('Frame', frame as never));
    });
  }

  it('struct lists of zero-size elements: huge claims are refused at once, small ones by traversal', () => {
    const bytes = encodeFrame(makeFrame({ hello: { undelivered: [{ task_id: 't' }] } }));
    const at = findListPointer(bytes, ELEMENT_SIZE.composite, 10); // one ComputeResult: 1 data + 9 pointer words
    const expectRefused = (count: number, ...codes: ProtocolErrorCode[]): void => {
      const hostile = withZeroSizeStructList(bytes, at, count);
      const work = measureWork(() => decodeFrame(hostile));
      expect(work.error).toBeInstanceOf(ProtocolError);
      expect(codes).toContain((work.error as ProtocolError).code);
      expect(work.reads).toBeLessThanOrEqual(READS_FIXED + READS_PER_BYTE * hostile.length);
    };
    // The largest claim: capnp-es refuses it by a bounds check on the list's end (it computes
    // the end from the count), a reader that trusts the word count by the element budget…
    expectRefused(MAX_LIST_COUNT, 'MALFORMED_FRAME', 'LIST_TOO_LONG');
    // …Flock's element budget those past 64 + 4 per byte…
    expectRefused(1 << 22, 'LIST_TOO_LONG');
    expectRefused(64 + 4 * bytes.length + 1, 'LIST_TOO_LONG');
    // …and within the budget, the traversal charge per pointer capnp-es constructs.
    expectRefused(200, 'TRAVERSAL_LIMIT');
  });

  it('a claim just inside the element budget is read, one just outside is refused', () => {
    const bytes = encodeFrame(makeFrame({ capability: { gpu: { features: ['x'] } } }));
    const at = findListPointer(bytes, ELEMENT_SIZE.pointer, 1);
    const budget = 64 + 4 * bytes.length;
    const over = measureWork(() => decodeFrame(withListPointer(bytes, at, ELEMENT_SIZE.void, budget + 1)));
    expect((over.error as ProtocolError).code).toBe('LIST_TOO_LONG');
    // Inside the budget capnp-es reads past the list's end, which is MALFORMED_FRAME, not a hang.
    const inside = expectOnlyProtocolErrors(() =>
      decodeFrame(withListPointer(bytes, at, ELEMENT_SIZE.void, 100)),
    );
    expect(inside.code).toBe('MALFORMED_FRAME');
  });

  it('many pointers aliasing one large text cost their size: TRAVERSAL_LIMIT, not gigabytes', () => {
    // 2,000 list elements all pointing at one 20 KB text would decode to 40 MB of strings from
    // a 36 KB frame; the decoder charges text bytes against its budget.
    const count = 2_000;
    const big = 'y'.repeat(20_000);
    const frame = makeFrame({ capability: { cached_modules: [big, ...Array<string>(count - 1).fill('a')] } });
    const bytes = encodeFrame(frame);
    const hostile = aliasPointerList(bytes, findListPointer(bytes, ELEMENT_SIZE.pointer, count), count);
    const work = measureWork(() => decodeFrame(hostile));
    expect(work.error).toBeInstanceOf(ProtocolError);
    expect((work.error as ProtocolError).code).toBe('TRAVERSAL_LIMIT');
    const field = (work.error as ProtocolError).field ?? '';
    const index = Number(/^payload\.capability\.cached_modules\[(\d+)\]$/.exec(field)?.[1]);
    // Stopped after a few dozen copies: the budget is 4 units a byte, one unit per 8 text bytes.
    expect(index).toBeGreaterThan(1);
    expect(index).toBeLessThanOrEqual(Math.ceil((8 * (64 + 4 * hostile.length)) / big.length));
    // Without the aliasing, the same frame decodes.
    expect(decodeFrame(bytes)).toStrictEqual(canonical('Frame', frame as never));
  });
});
