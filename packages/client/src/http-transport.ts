import { FlockError } from './flock-error.ts';

/** The `fetch` the SDK calls; the global one by default (Node 20+, browsers). */
export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

export interface RequestOptions {
  /** Sent as `application/json`. */
  json?: unknown;
  /** Sent as is with `contentType`. */
  body?: Uint8Array | string;
  contentType?: string;
  query?: Record<string, string | number | undefined>;
  signal?: AbortSignal | undefined;
  /** More request headers (e.g. `traceparent`). */
  headers?: Record<string, string> | undefined;
}

/**
 * What a request refused for now does: 429 `RATE_LIMITED` or `QUOTA_EXCEEDED`, or 503 `QUEUE_FULL`
 * or `STORE_UNAVAILABLE` (a cluster coordinator out of reach of PostgreSQL), with a `Retry-After`.
 * It is sent again after that long, whatever its method, as long as the waits add up to at most
 * `waitMs`: the coordinator stored nothing of it, or (a store lost in mid-commit) a submission sent
 * again is the same task, by its id.
 */
export interface ThrottlePolicy {
  /** Most time one call spends waiting out refusals, ms; 0: never wait (the error is thrown). */
  waitMs: number;
  /** Told before each wait (the CLI prints it). */
  onWait?: ((error: FlockError, waitMs: number) => void) | undefined;
}

/**
 * Sends authenticated requests to the coordinator and turns every failure into a FlockError:
 * contract B's `{ "error": { code, message, field? } }` keeps its code; a refused connection is
 * `UNREACHABLE`; a request past `timeoutMs` is `TIMEOUT`. A request refused for now is sent again
 * after its `Retry-After` (`ThrottlePolicy`).
 */
export class HttpTransport {
  readonly baseUrl: string;
  readonly #apiKey: string;
  readonly #fetch: FetchLike;
  readonly #timeoutMs: number;
  readonly #throttle: ThrottlePolicy;

  constructor(
    baseUrl: string,
    apiKey: string,
    fetchImpl: FetchLike,
    timeoutMs: number,
    throttle: ThrottlePolicy = { waitMs: 0 },
  ) {
    this.baseUrl = baseUrl.replace(/\/+$/, '');
    this.#apiKey = apiKey;
    this.#fetch = fetchImpl;
    this.#timeoutMs = timeoutMs;
    this.#throttle = throttle;
  }

  url(path: string, query?: Record<string, string | number | undefined>): string {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query ?? {})) {
      if (value !== undefined && value !== '') params.set(key, String(value));
    }
    const search = params.toString();
    return `${this.baseUrl}${path}${search === '' ? '' : `?${search}`}`;
  }

  async json<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const response = await this.send(method, path, options);
    const text = await response.text();
    try {
      return JSON.parse(text) as T;
    } catch (cause) {
      throw new FlockError('BAD_RESPONSE', `${method} ${path}: response is not JSON`, {
        status: response.status,
        cause,
      });
    }
  }

  async bytes(
    path: string,
    options: RequestOptions = {},
  ): Promise<{ bytes: Uint8Array; contentType: string }> {
    const response = await this.send('GET', path, options);
    return {
      bytes: new Uint8Array(await response.arrayBuffer()),
      contentType: response.headers.get('content-type') ?? 'application/octet-stream',
    };
  }

  async send(method: string, path: string, options: RequestOptions = {}): Promise<Response> {
    let waited = 0;
    for (;;) {
      try {
        return await this.#sendOnce(method, path, options);
      } catch (error) {
        const waitMs = throttleWait(error, this.#throttle.waitMs - waited);
        if (waitMs === undefined) throw error;
        this.#throttle.onWait?.(error as FlockError, waitMs);
        await pause(waitMs, options.signal, `${method} ${path}`);
        waited += waitMs;
      }
    }
  }

  async #sendOnce(method: string, path: string, options: RequestOptions): Promise<Response> {
    const headers: Record<string, string> = { ...options.headers, authorization: `Bearer ${this.#apiKey}` };
    let body: string | Uint8Array | undefined;
    if (options.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(options.json);
    } else if (options.body !== undefined) {
      headers['content-type'] = options.contentType ?? 'application/octet-stream';
      body = options.body;
    }
    const timeout = AbortSignal.timeout(this.#timeoutMs);
    const signal = options.signal === undefined ? timeout : AbortSignal.any([timeout, options.signal]);
    let response: Response;
    try {
      response = await this.#fetch(this.url(path, options.query), {
        method,
        headers,
        signal,
        ...(body === undefined ? {} : { body: body as NonNullable<RequestInit['body']> }),
      });
    } catch (cause) {
      if (options.signal?.aborted) throw new FlockError('ABORTED', `${method} ${path}: aborted`, { cause });
      if (timeout.aborted) {
        throw new FlockError('TIMEOUT', `${method} ${path}: no answer within ${this.#timeoutMs} ms`, {
          cause,
        });
      }
      throw new FlockError('UNREACHABLE', `cannot reach the coordinator at ${this.baseUrl}`, { cause });
    }
    if (!response.ok) throw await errorFromResponse(method, path, response);
    return response;
  }
}

/** Codes of refusals that leave nothing behind and say when to come back. */
const THROTTLED = new Set(['RATE_LIMITED', 'QUOTA_EXCEEDED', 'QUEUE_FULL', 'STORE_UNAVAILABLE']);

/** How long to wait before sending `error`'s request again, or undefined when it must be thrown. */
function throttleWait(error: unknown, budgetMs: number): number | undefined {
  if (!(error instanceof FlockError) || !THROTTLED.has(error.code)) return undefined;
  if (error.status !== 429 && error.status !== 503) return undefined;
  const waitMs = error.retryAfterMs;
  return waitMs !== undefined && waitMs <= budgetMs ? waitMs : undefined;
}

function pause(ms: number, signal: AbortSignal | undefined, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const aborted = () => reject(new FlockError('ABORTED', `${what}: aborted`));
    if (signal?.aborted) return aborted();
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      aborted();
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

async function errorFromResponse(method: string, path: string, response: Response): Promise<FlockError> {
  const text = await response.text().catch(() => '');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  const error = (parsed as { error?: { code?: unknown; message?: unknown; field?: unknown } } | undefined)
    ?.error;
  if (error !== undefined && typeof error.code === 'string') {
    // Retry-After in seconds (what the coordinator sends on 429 and 503); an HTTP date is not used.
    const retryAfter = response.headers.get('retry-after');
    const retryAfterMs =
      retryAfter !== null && /^\d+$/.test(retryAfter) ? Number(retryAfter) * 1000 : undefined;
    return new FlockError(error.code, typeof error.message === 'string' ? error.message : error.code, {
      status: response.status,
      ...(typeof error.field === 'string' ? { field: error.field } : {}),
      ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
    });
  }
  return new FlockError('BAD_RESPONSE', `${method} ${path}: HTTP ${response.status} without an error body`, {
    status: response.status,
  });
}
