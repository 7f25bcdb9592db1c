/**
 * Who is on the other end: the client address that login throttling counts and the access log shows.
 *
 * It is the TCP peer, unless the peer is one of `http.trustedproxies`: then it is taken from the proxy's
 * `X-Forwarded-For` (or, without one, `Forwarded`), walking the chain from the right and skipping trusted
 * proxies, so the first address no trusted proxy vouches for is the client. Entries to the left of it are
 * whatever the client chose to send and are never believed. A header from an untrusted peer is ignored.
 *
 * `X-Forwarded-For` wins when both headers are present: nginx, HAProxy and cloud load balancers append to it
 * but pass a client's own `Forwarded` through untouched. A proxy that writes only `Forwarded` must therefore
 * drop any `X-Forwarded-For` the client sent (docs/authentication.md says so).
 */
import type { IncomingMessage } from 'node:http';
import { BlockList, isIP } from 'node:net';

/** Strips IPv4-mapped IPv6 (`::ffff:10.0.0.1` is 10.0.0.1), brackets, zone ids and a port. */
export function normaliseAddress(raw: string): string | null {
  let a = raw.trim();
  if (a.startsWith('"') && a.endsWith('"')) a = a.slice(1, -1);
  if (a.startsWith('[')) a = a.slice(1, a.indexOf(']') > 0 ? a.indexOf(']') : undefined);
  else if (/^\d+\.\d+\.\d+\.\d+:\d+$/.test(a)) a = a.slice(0, a.lastIndexOf(':'));
  a = a.replace(/%.*$/, '');
  if (/^::ffff:\d+\.\d+\.\d+\.\d+$/i.test(a)) a = a.slice(7);
  return isIP(a) ? a.toLowerCase() : null;
}

/** `http.trustedproxies`: addresses and CIDR blocks, IPv4 or IPv6. Throws naming the bad entry. */
export class TrustedProxies {
  private readonly list = new BlockList();
  readonly empty: boolean;

  constructor(entries: readonly string[]) {
    this.empty = entries.length === 0;
    for (const e of entries) {
      const [addr, bits, extra] = e.split('/');
      const ip = normaliseAddress(addr);
      const family = ip ? (isIP(ip) === 4 ? 'ipv4' : 'ipv6') : null;
      const max = family === 'ipv4' ? 32 : 128;
      const prefix = bits === undefined ? max : /^\d+$/.test(bits) ? Number(bits) : NaN;
      if (!ip || !family || extra !== undefined || !(prefix >= 0 && prefix <= max))
        throw new Error(`not an IP address or CIDR block: ${JSON.stringify(e)}`);
      this.list.addSubnet(ip, prefix, family);
    }
  }

  has(address: string): boolean {
    return !this.empty && this.list.check(address, isIP(address) === 4 ? 'ipv4' : 'ipv6');
  }

  /** The client address of `req` (see the file comment); undefined only when the socket has none (closed). */
  resolve(req: IncomingMessage): string | undefined {
    const peer = req.socket?.remoteAddress ? normaliseAddress(req.socket.remoteAddress) : null;
    if (!peer || !this.has(peer)) return peer ?? undefined;
    const chain = forwardedChain(req);
    // Right to left: the last hop our proxy saw is the right-most entry; stop at the first one it does not vouch for.
    for (let i = chain.length - 1; i >= 0; i--) {
      const a = normaliseAddress(chain[i]);
      if (!a) return peer; // garbage in the chain: believe nothing further left
      if (!this.has(a)) return a;
    }
    return chain.length > 0 ? (normaliseAddress(chain[0]) ?? peer) : peer;
  }
}

/** The hops of X-Forwarded-For (several headers join with commas), else the `for=` values of Forwarded. */
function forwardedChain(req: IncomingMessage): string[] {
  const xff = req.headers['x-forwarded-for'];
  if (xff !== undefined)
    return (Array.isArray(xff) ? xff.join(',') : xff)
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
  const fwd = req.headers.forwarded;
  if (!fwd) return [];
  const out: string[] = [];
  for (const element of fwd.split(',')) {
    const pair = element
      .split(';')
      .map((s) => s.trim())
      .find((s) => s.toLowerCase().startsWith('for='));
    // An element without for=, or for=unknown / an obfuscated name: an entry nobody can vouch for.
    out.push(pair ? pair.slice(4) : 'unknown');
  }
  return out;
}

const resolved = new WeakMap<IncomingMessage, string>();

/** Records the client address of `req`, once, where the request enters (src/http/server.ts, the token server CLI). */
export function rememberClientAddress(req: IncomingMessage, proxies: TrustedProxies): string | undefined {
  const a = proxies.resolve(req);
  if (a !== undefined) resolved.set(req, a);
  return a;
}

/** The client address of `req`: as recorded by rememberClientAddress(), else the TCP peer. */
export function clientAddress(req: IncomingMessage): string | undefined {
  const a = resolved.get(req);
  if (a !== undefined) return a;
  const peer = req.socket?.remoteAddress;
  return peer ? (normaliseAddress(peer) ?? peer) : undefined;
}

/**
 * The address as throttling counts it: IPv4 as is, IPv6 by its /64 network (one subscriber or host usually owns
 * a whole /64, and can pick a new address in it for every request).
 */
export function throttleAddressKey(address: string): string {
  if (isIP(address) !== 6) return address;
  const [head, tail = ''] = address.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === '' ? [] : tail.split(':');
  // A trailing dotted quad (`64:ff9b::1.2.3.4`) stands for two groups.
  const width = (g: string[]) => g.length + (g.length > 0 && g[g.length - 1].includes('.') ? 1 : 0);
  const groups = address.includes('::')
    ? [...left, ...Array(Math.max(0, 8 - width(left) - width(right))).fill('0'), ...right]
    : left;
  return `${groups
    .slice(0, 4)
    .map((g) => parseInt(g || '0', 16).toString(16))
    .join(':')}::/64`;
}
