import type { IncomingMessage, ServerResponse } from 'node:http';
import { CoordinatorError } from '../errors.ts';

/** Methods of the REST API a browser app may call. */
const METHODS = 'GET, POST, DELETE';
/** Request headers the REST API reads. */
const HEADERS = 'Authorization, Content-Type, Accept, Accept-Encoding, traceparent';
/** Response headers an app may read besides the CORS-safelisted ones. */
const EXPOSED = 'Retry-After, Content-Disposition, Content-Encoding, traceparent';
/** How long a browser may cache a preflight answer, seconds. */
const MAX_AGE_S = 600;

/**
 * CORS for the requester REST API (`FLOCK_CORS_ORIGINS`): off without origins. A listed Origin is
 * echoed in `Access-Control-Allow-Origin` (with `Vary: Origin`) on every answer, errors included,
 * and its preflights are answered 204; an unlisted Origin gets no CORS header, and its preflight
 * 403 `ORIGIN_NOT_ALLOWED`. Only the authenticated REST routes pass through here: the volunteer
 * endpoints (pages, `/v1/worker`, `/v1/libs`, modules by hash, lease inputs) never answer CORS.
 * Credentials are bearer keys, never cookies, so `Allow-Credentials` is not sent.
 */
export class CorsPolicy {
  private readonly origins: ReadonlySet<string>;

  constructor(origins: readonly string[]) {
    this.origins = new Set(origins);
  }

  /**
   * Adds the CORS headers for `req`'s Origin to `res`. Returns true when `req` was a preflight for
   * a method `routed` says the path has, and has been answered; throws ORIGIN_NOT_ALLOWED for the
   * preflight of an unlisted Origin.
   */
  handle(req: IncomingMessage, res: ServerResponse, routed: (method: string) => boolean): boolean {
    const origin = req.headers.origin;
    const requested = req.headers['access-control-request-method'];
    const preflight = req.method === 'OPTIONS' && requested !== undefined && routed(requested);
    // An OPTIONS that is no preflight for an existing route falls through to 401/404/405, bare.
    if (this.origins.size === 0 || origin === undefined || (req.method === 'OPTIONS' && !preflight))
      return false;
    res.setHeader('Vary', 'Origin');
    if (!this.origins.has(origin)) {
      if (preflight)
        throw new CoordinatorError('ORIGIN_NOT_ALLOWED', `origin ${origin} is not in FLOCK_CORS_ORIGINS`);
      return false;
    }
    res.setHeader('Access-Control-Allow-Origin', origin);
    if (!preflight) {
      res.setHeader('Access-Control-Expose-Headers', EXPOSED);
      return false;
    }
    res.writeHead(204, {
      'Access-Control-Allow-Methods': METHODS,
      'Access-Control-Allow-Headers': HEADERS,
      'Access-Control-Max-Age': String(MAX_AGE_S),
    });
    res.end();
    return true;
  }
}
