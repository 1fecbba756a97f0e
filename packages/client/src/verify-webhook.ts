/** How old a webhook's signature time may be before `verifyWebhook` refuses it (replays), seconds. */
export const WEBHOOK_TOLERANCE_S = 300;

export interface VerifyWebhookOptions {
  /** Largest age (and clock skew) of the signature's `t`, seconds; default 300. */
  toleranceS?: number;
  /** The receiver's clock, epoch ms (tests); default `Date.now()`. */
  nowMs?: number;
}

const hexOf = (bytes: ArrayBuffer): string =>
  Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, '0')).join('');

/**
 * Whether a webhook the coordinator posted to a task's `return_channel` is genuine: `header` is its
 * `Flock-Signature` (`t=<unix seconds>,v1=<hex>`), `body` the request body exactly as received
 * (the raw bytes or their UTF-8 text, not re-serialized JSON), `secret` the tenant's webhook secret
 * (`GET /v1/webhooks/secret`). True when a `v1` is the HMAC-SHA256 of `"<t>.<body>"` under the
 * secret and `t` is within `toleranceS` of now (older ones may be replays). Web Crypto: browsers
 * and Node 20+.
 */
export async function verifyWebhook(
  body: string | Uint8Array,
  header: string | null | undefined,
  secret: string,
  options: VerifyWebhookOptions = {},
): Promise<boolean> {
  if (!header) return false;
  let t: string | undefined;
  const macs: string[] = [];
  for (const part of header.split(',')) {
    const eq = part.indexOf('=');
    const name = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (name === 't') t = value;
    else if (name === 'v1') macs.push(value.toLowerCase());
  }
  if (t === undefined || !/^\d{1,12}$/.test(t) || macs.length === 0) return false;
  const nowS = (options.nowMs ?? Date.now()) / 1000;
  if (Math.abs(nowS - Number(t)) > (options.toleranceS ?? WEBHOOK_TOLERANCE_S)) return false;
  const utf8 = new TextEncoder();
  const bytes = typeof body === 'string' ? utf8.encode(body) : body;
  const signed = new Uint8Array(t.length + 1 + bytes.length);
  signed.set(utf8.encode(`${t}.`), 0);
  signed.set(bytes, t.length + 1);
  const key = await crypto.subtle.importKey(
    'raw',
    utf8.encode(secret),
    { name: 'HMAC', hash: 'SHA-256' },
    false,
    ['sign'],
  );
  const expected = hexOf(await crypto.subtle.sign('HMAC', key, signed));
  // Compared in full whatever the first difference, so timing tells nothing.
  return macs.some((mac) => {
    if (mac.length !== expected.length) return false;
    let diff = 0;
    for (let i = 0; i < mac.length; i++) diff |= mac.charCodeAt(i) ^ expected.charCodeAt(i);
    return diff === 0;
  });
}
