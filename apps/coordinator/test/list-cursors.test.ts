// The `?after=` cursor of every paged list endpoint: anything a page's `next` could not have been is
// 400 INVALID_ARGUMENT on `after` with one message, never a first or an empty page. (Paging itself
// is tested with each endpoint: api, workflows, audit-api, webhook-redeliver, hostile-volunteers.)
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { afterCursor, nextCursor } from '../src/edge/page-cursor.ts';
import { startTest, type TestCoordinator } from './helpers.ts';

let c: TestCoordinator;
beforeAll(async () => {
  c = await startTest();
});
afterAll(async () => {
  await c.stop();
});

const BAD_CURSOR = { code: 'INVALID_ARGUMENT', message: 'bad cursor', field: 'after' };

/** The lists whose cursor is a row number (`nextCursor`). */
const NUMBERED = ['/v1/tasks', '/v1/workflows', '/v1/audit', '/v1/webhooks/deliveries?state=failed'];

/** Cursors no page gives, each beside what it decodes to. */
const GARBLED = [
  'garbage', // bytes, not digits
  '!!', // no base64url at all: decodes to nothing
  '', // `after=` with no value
  'LTE', // "-1"
  'MS41', // "1.5"
  'MHgx', // "0x1"
  'MDE', // "01"
  'MQ==', // "1", padded
  'OTAwNzE5OTI1NDc0MDk5Mg', // 2^53, past a safe integer
];

async function answer(path: string, after: string): Promise<[number, unknown]> {
  const joiner = path.includes('?') ? '&' : '?';
  const res = await c.api(`${path}${joiner}after=${encodeURIComponent(after)}`);
  const body = await res.json();
  return [res.status, res.status === 200 ? body : body.error];
}

describe('a cursor no page gave is 400 bad cursor', () => {
  test.each(NUMBERED)('%s', async (path) => {
    for (const after of GARBLED)
      expect([after, ...(await answer(path, after))]).toEqual([after, 400, BAD_CURSOR]);
    // The cursor of row 0 is one a page could give: the first page, empty here.
    const [status] = await answer(path, nextCursor(0));
    expect(status).toBe(200);
  });

  test('/v1/workers: its cursor is a worker id; one since forgotten still pages on', async () => {
    for (const after of ['garbage', 'zzz', '', 'w-', 'w-AAAAAAAAAAA', 'w-AAAAAAAAAAAAA', 'w-AAAAAAAA+AAA']) {
      expect([after, ...(await answer('/v1/workers', after))]).toEqual([after, 400, BAD_CURSOR]);
    }
    expect(await answer('/v1/workers', 'w-AAAAAAAAAAAA')).toEqual([200, { workers: [] }]);
  });
});

test('afterCursor reads back what nextCursor makes, up to the largest safe integer', () => {
  for (const n of [0, 1, 9, 10, 123_456_789, Number.MAX_SAFE_INTEGER])
    expect(afterCursor(nextCursor(n))).toBe(n);
  expect(afterCursor(null)).toBe(0);
});
