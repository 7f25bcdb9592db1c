/** One POST of an event envelope to an endpoint: Distribution's httpSink, without the queueing and retries. */
import { EVENTS_MEDIA_TYPE } from './event.js';

/** Sends one body; resolves with the final HTTP status, rejects on a network error, timeout or abort. */
export type Sender = (body: string, signal: AbortSignal) => Promise<number>;

export interface HttpTarget {
  url: string;
  /** notifications.endpoints[].headers: every value is sent (repeated headers are joined with ", "). */
  headers: Readonly<Record<string, readonly string[]>>;
  timeoutMs: number;
}

/** Credentials in the URL (`https://user:pass@host/`) become Basic auth, as Go's client does; fetch refuses them in the URL. */
export function splitCredentials(raw: string): { url: string; authorization?: string } {
  const u = new URL(raw);
  if (!u.username && !u.password) return { url: u.toString() };
  const authorization = `Basic ${Buffer.from(`${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`).toString('base64')}`;
  u.username = '';
  u.password = '';
  return { url: u.toString(), authorization };
}

/** The URL without credentials, for logs. */
export function redactedUrl(raw: string): string {
  try {
    return splitCredentials(raw).url;
  } catch {
    return '(invalid url)';
  }
}

/**
 * A Sender over fetch. Redirects are followed as Go's http.Client follows them (Distribution counts the final 2xx
 * or 3xx as delivered); `timeoutMs` bounds the whole exchange, like http.Client.Timeout.
 */
export function httpSender(target: HttpTarget): Sender {
  const { url, authorization } = splitCredentials(target.url);
  const base = new Headers();
  if (authorization) base.set('Authorization', authorization);
  for (const [name, values] of Object.entries(target.headers)) {
    if (name.toLowerCase() === 'authorization' && authorization) base.delete(name);
    for (const v of values) base.append(name, v);
  }
  base.set('Content-Type', EVENTS_MEDIA_TYPE);
  return async (body, stop) => {
    // A controller and a timer of our own, not AbortSignal.any([stop, AbortSignal.timeout()]): on Node 20 the
    // composite holds the timeout signal weakly, so it can be collected and never fire (nodejs/node#57736), and
    // each composite stays registered on the long-lived `stop` signal (nodejs/node#62363).
    const ac = new AbortController();
    const onStop = () => ac.abort(stop.reason);
    if (stop.aborted) onStop();
    else stop.addEventListener('abort', onStop, { once: true });
    const timer = setTimeout(
      () => ac.abort(new DOMException(`no answer within ${target.timeoutMs} ms`, 'TimeoutError')),
      target.timeoutMs,
    );
    try {
      const res = await fetch(url, { method: 'POST', headers: base, body, redirect: 'follow', signal: ac.signal });
      // Free the connection; the answer's body means nothing to us.
      await res.body?.cancel().catch(() => undefined);
      return res.status;
    } finally {
      clearTimeout(timer);
      stop.removeEventListener('abort', onStop);
    }
  };
}
