import type { IncomingMessage } from 'node:http';
import { BlockList, isIP } from 'node:net';
import { CoordinatorError } from '../errors.ts';

/** `::ffff:127.0.0.1` → `127.0.0.1`: one spelling per address, so limits count it once. */
export function normalizeAddress(address: string | undefined): string {
  if (!address) return 'unknown';
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return (mapped ? mapped[1]! : address).toLowerCase();
}

/**
 * The reverse proxies whose `X-Forwarded-For` is believed (`FLOCK_TRUSTED_PROXIES`: addresses or
 * CIDR blocks, IPv4 or IPv6). From anyone else the header is ignored: a client cannot choose the
 * address its limits are counted against.
 */
export class TrustedProxies {
  private readonly list = new BlockList();
  readonly size: number;

  /** Throws CONFIG_INVALID naming the entry that is neither an address nor a CIDR block. */
  constructor(entries: readonly string[]) {
    for (const entry of entries) {
      const [address, bits, extra] = entry.split('/');
      const family = isIP(address ?? '');
      const prefix = bits === undefined ? undefined : Number(bits);
      const max = family === 6 ? 128 : 32;
      if (
        family === 0 ||
        extra !== undefined ||
        (prefix !== undefined &&
          !(Number.isInteger(prefix) && prefix >= 0 && prefix <= max && /^\d+$/.test(bits!)))
      ) {
        throw new CoordinatorError(
          'CONFIG_INVALID',
          `trustedProxies: "${entry}" is not an IP address or CIDR block`,
          'trustedProxies',
        );
      }
      const type = family === 6 ? 'ipv6' : 'ipv4';
      if (prefix === undefined) this.list.addAddress(address!, type);
      else this.list.addSubnet(address!, prefix, type);
    }
    this.size = entries.length;
  }

  has(address: string): boolean {
    if (this.size === 0) return false;
    const family = isIP(address);
    return family !== 0 && this.list.check(address, family === 6 ? 'ipv6' : 'ipv4');
  }

  /**
   * The client's address: the TCP peer, or, when the peer is a trusted proxy, the nearest address
   * in `X-Forwarded-For` (read right to left) that is not itself a trusted proxy.
   */
  clientAddress(req: IncomingMessage): string {
    const peer = normalizeAddress(req.socket.remoteAddress);
    if (!this.has(peer)) return peer;
    const header = req.headers['x-forwarded-for'];
    const hops = (Array.isArray(header) ? header.join(',') : (header ?? ''))
      .split(',')
      .map((s) => normalizeAddress(s.trim()))
      .filter((s) => isIP(s) !== 0);
    for (let i = hops.length - 1; i >= 0; i--) if (!this.has(hops[i]!)) return hops[i]!;
    return hops[0] ?? peer;
  }

  /**
   * The origin a trusted proxy says the client asked for (`X-Forwarded-Proto` and
   * `X-Forwarded-Host`, their first values), or undefined when the peer is not a trusted proxy or
   * either header is missing: from anyone else the headers are ignored.
   */
  forwardedOrigin(req: IncomingMessage): string | undefined {
    if (!this.has(normalizeAddress(req.socket.remoteAddress))) return undefined;
    const first = (name: string): string | undefined => {
      const value = req.headers[name];
      const text = (Array.isArray(value) ? value[0] : value)?.split(',')[0]?.trim();
      return text === undefined || text === '' ? undefined : text;
    };
    const proto = first('x-forwarded-proto')?.toLowerCase();
    const host = first('x-forwarded-host');
    if ((proto !== 'http' && proto !== 'https') || host === undefined) return undefined;
    return `${proto}://${host}`;
  }
}
