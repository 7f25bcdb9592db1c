/**
 * Request checks that Node's HTTP parser leaves to the application (RFC 9112), run before any route: the
 * request line's version, the Host header, the transfer codings, and the form of the request target. A request
 * that fails them is refused with the registry's JSON error body and its connection closed, so that nothing
 * after it on the same connection is read with a framing the two ends may disagree on (request smuggling).
 */
import type { IncomingMessage } from 'node:http';
import { OciError } from '../oci/errors.js';

/** The request target as a path and raw query, after an absolute-form target for this origin was reduced to them. */
export interface Target {
  path: string;
  rawQuery: string;
}

/** A 400 for a request the HTTP layer refuses (see OciError's `status`). */
export function badRequest(message: string, detail?: unknown): OciError {
  return new OciError('UNSUPPORTED', detail ?? null, { message, status: 400 });
}

function headerCount(req: IncomingMessage, name: string): number {
  let n = 0;
  for (let i = 0; i < req.rawHeaders.length; i += 2) if (req.rawHeaders[i].toLowerCase() === name) n++;
  return n;
}

const ABSOLUTE_RE = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//;

/**
 * The target of `req`, or an OciError to answer. `ownAuthority` tells whether an absolute-form target's
 * `host[:port]` (lower case) names this registry; RFC 9112 §3.2.2 makes a server accept the absolute form for
 * itself, and a registry is never a proxy, so any other authority is refused.
 */
export function checkRequest(
  req: IncomingMessage,
  ownAuthority: (authority: string, req: IncomingMessage) => boolean,
): Target | OciError {
  const http2 = req.httpVersionMajor === 2;
  if (!http2 && req.httpVersionMajor !== 1)
    return badRequest('the request line has no supported HTTP version', { version: req.httpVersion });
  if (req.method === 'CONNECT')
    return new OciError(
      'UNSUPPORTED',
      { method: 'CONNECT' },
      { message: 'CONNECT is not supported: this registry is not a proxy' },
    );
  if (!http2) {
    const hosts = headerCount(req, 'host');
    if (hosts > 1) return badRequest('more than one Host header');
    if (hosts === 0 && req.httpVersionMinor >= 1) return badRequest('missing Host header');
  }
  const te = req.headers['transfer-encoding'];
  if (te !== undefined && te.trim().toLowerCase() !== 'chunked') {
    // Only `chunked` is understood; a stacked or unknown coding would leave the body's meaning unclear.
    return badRequest('unsupported transfer coding: only chunked is accepted', { 'Transfer-Encoding': te });
  }
  return requestTarget(req, ownAuthority);
}

function requestTarget(
  req: IncomingMessage,
  ownAuthority: (authority: string, req: IncomingMessage) => boolean,
): Target | OciError {
  const url = req.url ?? '/';
  if (url.startsWith('/') || url === '*') {
    const q = url.indexOf('?');
    return q < 0 ? { path: url, rawQuery: '' } : { path: url.slice(0, q), rawQuery: url.slice(q + 1) };
  }
  if (!ABSOLUTE_RE.test(url)) return badRequest('malformed request target');
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return badRequest('malformed request target');
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
    return badRequest('the request target names another origin: this registry is not a proxy');
  const authority = withPort(parsed.host, parsed.protocol === 'https:' ? 443 : 80);
  if (parsed.username !== '' || parsed.password !== '' || !ownAuthority(authority, req))
    return badRequest('the request target names another origin: this registry is not a proxy');
  // The target's authority replaces Host (RFC 9112 §3.2.2), for the URLs built from it (Location).
  req.headers.host = parsed.host;
  // The raw path as sent (URL would normalise `..` and percent-encoding, which the routes check themselves).
  const after = url.slice(ABSOLUTE_RE.exec(url)![0].length);
  const i = after.search(/[/?#]/);
  const rest = i < 0 ? '' : after.slice(i).replace(/#.*$/, '');
  const target = rest.startsWith('/') ? rest : `/${rest}`;
  const q = target.indexOf('?');
  return q < 0 ? { path: target, rawQuery: '' } : { path: target.slice(0, q), rawQuery: target.slice(q + 1) };
}

/** `host[:port]` in lower case with its port made explicit (`defaultPort` when absent). */
export function withPort(host: string, defaultPort: number): string {
  const h = host.toLowerCase();
  return /:\d+$/.test(h) && !h.endsWith(']') ? h : `${h}:${defaultPort}`;
}

/** Lower-case `host:port` forms of where the socket was reached, for `ownAuthority`. */
export function localAuthorities(address: string | undefined, port: number | undefined): string[] {
  if (!address || port === undefined) return [];
  const plain = address.replace(/^::ffff:/, '');
  const hosts = new Set([plain.includes(':') ? `[${plain}]` : plain]);
  if (plain === '127.0.0.1' || plain === '::1') hosts.add('localhost');
  return [...hosts].map((h) => `${h}:${port}`.toLowerCase());
}
