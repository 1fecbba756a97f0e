// One webhook attempt: a signed POST of the event's body to its return_channel URL, bounded in
// time, connecting only to addresses the SSRF guard allows, following no redirects.
import { createHmac } from 'node:crypto';
import { lookup } from 'node:dns';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { rootCertificates } from 'node:tls';
import type { WebhookSettings } from '../webhook-config.ts';
import { guardedLookup, isPrivateAddress } from './webhook-targets.ts';

/** The header receivers verify: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`. */
export const SIGNATURE_HEADER = 'Flock-Signature';

/** The value of `Flock-Signature` for `body` signed at `tSeconds` with the tenant's secret. */
export function webhookSignature(body: string, secret: string, tSeconds: number): string {
  const mac = createHmac('sha256', secret).update(`${tSeconds}.${body}`, 'utf8').digest('hex');
  return `t=${tSeconds},v1=${mac}`;
}

/**
 * A tenant's webhook signing secret: `whsec_` + hex HMAC-SHA256(master, tenant). Derived, so it
 * needs no storage and every coordinator sharing the master computes the same one; a new master
 * rotates every tenant's.
 */
export function tenantWebhookSecret(master: string, tenant: string): string {
  return `whsec_${createHmac('sha256', master).update(`flock-webhook:${tenant}`, 'utf8').digest('hex')}`;
}

/** How one attempt ended. `retryable` is false for answers that retrying would not change. */
export interface PostOutcome {
  status: number | undefined;
  /** Absent on a 2xx. */
  error: string | undefined;
  delivered: boolean;
  retryable: boolean;
  /** The receiver's `Retry-After` (on 429 and 5xx), ms. */
  retryAfterMs: number | undefined;
}

export interface PostRequest {
  url: string;
  body: string;
  headers: Record<string, string>;
  /** Aborts the attempt (the coordinator is stopping). */
  signal: AbortSignal;
}

const safeLookup = guardedLookup(lookup as never);

/** `Retry-After` as seconds or an HTTP date, in ms from now; undefined when absent or unreadable. */
export function retryAfterMs(value: string | undefined, nowMs = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}

/** Posts once; never throws. */
export function postWebhook(req: PostRequest, settings: WebhookSettings): Promise<PostOutcome> {
  const url = new URL(req.url);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const fail = (error: string, retryable: boolean): PostOutcome => ({
    status: undefined,
    error,
    delivered: false,
    retryable,
    retryAfterMs: undefined,
  });
  // Node connects to an address literal without a lookup: check it here.
  if (!settings.webhookAllowPrivate && isPrivateAddress(host))
    return Promise.resolve(fail(`TARGET_FORBIDDEN: ${host} is a private address`, false));
  const https = url.protocol === 'https:';
  return new Promise((resolve) => {
    const timeout = AbortSignal.timeout(settings.webhookTimeoutMs);
    const signal = AbortSignal.any([timeout, req.signal]);
    const options = {
      method: 'POST',
      headers: { ...req.headers, 'Content-Length': String(Buffer.byteLength(req.body)) },
      signal,
      ...(settings.webhookAllowPrivate ? {} : { lookup: safeLookup }),
      ...(https && settings.webhookCa !== undefined ? { ca: [...rootCertificates, settings.webhookCa] } : {}),
    };
    const call = (https ? httpsRequest : httpRequest)(url, options, (res) => {
      const status = res.statusCode ?? 0;
      res.resume(); // The answer's body is not read: only its status counts.
      res.on('error', () => undefined);
      const delivered = status >= 200 && status < 300;
      const retryable = status === 429 || status >= 500;
      resolve({
        status,
        error: delivered ? undefined : `HTTP ${status}`,
        delivered,
        retryable,
        retryAfterMs: retryable ? retryAfterMs(res.headers['retry-after']) : undefined,
      });
    });
    call.on('error', (err: NodeJS.ErrnoException) => {
      if (timeout.aborted) return resolve(fail(`timed out after ${settings.webhookTimeoutMs} ms`, true));
      if (req.signal.aborted) return resolve(fail('coordinator stopping', true));
      if (err.code === 'TARGET_FORBIDDEN') return resolve(fail(`TARGET_FORBIDDEN: ${err.message}`, false));
      resolve(fail(`${err.code ?? 'ERROR'}: ${err.message}`, true));
    });
    call.end(req.body);
  });
}
