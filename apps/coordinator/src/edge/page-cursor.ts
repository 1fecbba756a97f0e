// The `?after=` cursor of the paged list endpoints (`GET /v1/tasks`, `/v1/workflows`, `/v1/audit`,
// `/v1/webhooks/deliveries?state=`): the base64url of the previous page's last row number, exactly as
// that page's `next` gave it. `GET /v1/workers` pages by worker id and refuses with the same error.
import { CoordinatorError } from '../errors.ts';

/** The `next` of a page whose last row is `n` (a task or workflow uid, an audit or delivery id). */
export function nextCursor(n: number): string {
  return Buffer.from(String(n)).toString('base64url');
}

/**
 * The row number a `?after=` cursor names; 0 (the first page) when there is none. Anything
 * `nextCursor` does not make (text that is no base64url, a padded or non-canonical one, a
 * number with a sign, a fraction or leading zeros) is 400 `INVALID_ARGUMENT` on `after`: a
 * garbled cursor would otherwise restart at the first page or skip to an empty one.
 */
export function afterCursor(text: string | null): number {
  if (text === null) return 0;
  const decoded = Buffer.from(text, 'base64url').toString('utf8');
  const n = /^\d{1,16}$/.test(decoded) ? Number(decoded) : Number.NaN;
  if (!Number.isSafeInteger(n) || nextCursor(n) !== text) throw badCursor();
  return n;
}

/** What every paged list endpoint answers for an `?after=` it could not have given. */
export function badCursor(): CoordinatorError {
  return new CoordinatorError('INVALID_ARGUMENT', 'bad cursor', 'after');
}
