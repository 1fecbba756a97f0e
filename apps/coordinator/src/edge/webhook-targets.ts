// Which return_channel values are webhooks, which of them a task may name (checked at submit),
// and which addresses a delivery may connect to (checked again at each connection, so a name
// that resolves to a private address later is still refused).
import { BlockList, isIP } from 'node:net';
import { CoordinatorError } from '../errors.ts';
import type { WebhookSettings } from '../webhook-config.ts';

/** A `return_channel` that is a URL: its terminal events are posted there. Others are channel names. */
export function isWebhookChannel(channel: string | undefined): channel is string {
  if (channel === undefined) return false;
  const head = channel.slice(0, 8).toLowerCase();
  return head === 'https://' || head.startsWith('http://');
}

// Addresses a webhook may not reach unless FLOCK_WEBHOOK_ALLOW_PRIVATE: loopback, private,
// link-local (cloud metadata at 169.254.169.254), carrier-grade NAT, unspecified, multicast and
// reserved ranges, and their IPv6 counterparts (IPv4-mapped addresses are checked as IPv4).
const BLOCKED = new BlockList();
for (const [net, bits] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 3],
] as const)
  BLOCKED.addSubnet(net, bits, 'ipv4');
for (const [net, bits] of [
  // Unspecified, loopback and the deprecated IPv4-compatible ::a.b.c.d.
  ['::', 96],
  ['::1', 128],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
] as const)
  BLOCKED.addSubnet(net, bits, 'ipv6');

/** The eight 16-bit groups of an IPv6 literal (an embedded dotted IPv4 tail included). */
function groupsOf(ipv6: string): number[] {
  let text = ipv6;
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const fill = tail === undefined ? [] : Array(8 - left.length - right.length).fill('0');
  return [...left, ...fill, ...right].map((g) => Number.parseInt(g, 16));
}

/** The IPv4 address NAT64 (64:ff9b::/96) or 6to4 (2002::/16) embeds, if `groups` is one of those. */
function embeddedIpv4(groups: number[]): string | undefined {
  const quad = (hi: number, lo: number) => `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  if (groups[0] === 0x64 && groups[1] === 0xff9b && groups.slice(2, 6).every((g) => g === 0))
    return quad(groups[6]!, groups[7]!);
  if (groups[0] === 0x2002) return quad(groups[1]!, groups[2]!);
  return undefined;
}

/** Whether `address` (an IP literal) is one webhooks may not reach by default. */
export function isPrivateAddress(address: string): boolean {
  const bare = address.replace(/^\[|\]$/g, '');
  const family = isIP(bare);
  if (family === 0) return false;
  if (family === 4) return BLOCKED.check(bare, 'ipv4');
  // IPv4-mapped addresses (::ffff:a.b.c.d, any spelling) are checked against the IPv4 rules by BlockList.
  if (BLOCKED.check(bare, 'ipv6')) return true;
  const inner = embeddedIpv4(groupsOf(bare));
  return inner !== undefined && BLOCKED.check(inner, 'ipv4');
}

/**
 * Checks a task's (or workflow's) `return_channel` when it is a URL: it must parse, be `https://`
 * (`http://` with FLOCK_WEBHOOK_ALLOW_HTTP), carry no credentials, and name no loopback or private
 * address literal or `localhost` (unless FLOCK_WEBHOOK_ALLOW_PRIVATE). 400 INVALID_ARGUMENT with
 * `field` otherwise. Names are resolved only when delivering (`guardedLookup`).
 */
export function checkReturnChannel(
  channel: string | undefined,
  settings: WebhookSettings,
  field: string,
): void {
  if (!isWebhookChannel(channel)) return;
  const bad = (why: string) => new CoordinatorError('INVALID_ARGUMENT', `return_channel ${why}`, field);
  let url: URL;
  try {
    url = new URL(channel);
  } catch {
    throw bad('is not a URL');
  }
  if (url.protocol === 'http:' && !settings.webhookAllowHttp)
    throw bad('must be an https:// URL (http:// only with FLOCK_WEBHOOK_ALLOW_HTTP=1)');
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw bad('must be an https:// URL');
  if (url.username !== '' || url.password !== '') throw bad('must not carry credentials');
  if (url.hostname === '') throw bad('has no host');
  if (settings.webhookAllowPrivate) return;
  const host = url.hostname.toLowerCase().replace(/\.$/, '');
  if (host === 'localhost' || host.endsWith('.localhost') || isPrivateAddress(host))
    throw bad(`names a loopback or private address (${host}); see FLOCK_WEBHOOK_ALLOW_PRIVATE`);
}

type Resolved = string | Array<{ address: string; family: number }>;
// biome-ignore lint/suspicious/noExplicitAny: node's lookup callback takes (err, address, family) or (err, list)
type LookupCallback = (err: NodeJS.ErrnoException | null, address: any, family?: number) => void;
type Lookup = (hostname: string, options: object, callback: LookupCallback) => void;

/**
 * A `lookup` for http(s).request that refuses private addresses: the address the connection
 * uses is the one checked, so DNS rebinding cannot slip past the check. A name with any private
 * address is refused (Node may be asked for all of them, to try each).
 */
export function guardedLookup(lookup: Lookup): Lookup {
  return (hostname, options, callback) => {
    lookup(hostname, options, (err, resolved: Resolved, family) => {
      if (err) return callback(err, resolved, family);
      const addresses = typeof resolved === 'string' ? [resolved] : resolved.map((r) => r.address);
      const bad = addresses.find(isPrivateAddress);
      if (bad !== undefined) {
        const refused = new Error(`${hostname} resolves to a private address (${bad})`);
        return callback(Object.assign(refused, { code: 'TARGET_FORBIDDEN' }), resolved, family);
      }
      callback(null, resolved, family);
    });
  };
}
