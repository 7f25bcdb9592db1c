/** A small HTTP client for the bench: keep-alive, bodies streamed from async iterables with backpressure. */
import { Agent, request, type ClientRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';

export interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  /** The body text (responses we read whole are small: errors, empty 201/202s). */
  text: string;
}

/** A keep-alive agent; with `ca`, an HTTPS agent trusting that certificate. */
export function keepAliveAgent(maxSockets: number, ca?: Buffer): Agent {
  return ca
    ? (new HttpsAgent({ keepAlive: true, maxSockets, ca }) as unknown as Agent)
    : new Agent({ keepAlive: true, maxSockets });
}

/** Sends one request; `body` is written chunk by chunk, waiting for 'drain', so nothing is buffered whole. */
export function send(
  agent: Agent,
  method: string,
  url: string,
  headers: Record<string, string | number>,
  body?: Buffer | Iterable<Buffer>,
  timeoutMs = 600_000,
): Promise<Reply> {
  return sendRaw(agent, method, url, headers, body, timeoutMs, async (res) => {
    let text = '';
    res.setEncoding('utf8');
    for await (const s of res) if (text.length < 65_536) text += s;
    return { status: res.statusCode ?? 0, headers: res.headers, text };
  });
}

/** Like send, but hands the response stream to `consume`. */
export function sendRaw<T>(
  agent: Agent,
  method: string,
  url: string,
  headers: Record<string, string | number>,
  body: Buffer | Iterable<Buffer> | undefined,
  timeoutMs: number,
  consume: (res: IncomingMessage) => Promise<T>,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const req = (url.startsWith('https:') ? httpsRequest : request)(url, {
      method,
      headers,
      agent,
      timeout: timeoutMs,
    });
    req.once('timeout', () => req.destroy(new Error(`${method} ${url}: timed out after ${timeoutMs} ms`)));
    req.once('error', reject);
    req.once('response', (res) => consume(res).then(resolve, reject));
    (async () => {
      if (body === undefined) req.end();
      else if (Buffer.isBuffer(body)) req.end(body);
      else {
        for (const chunk of body) {
          if (!req.write(chunk)) await drainedOrClosed(req);
          if (req.destroyed) return;
        }
        req.end();
      }
    })().catch((err: Error) => req.destroy(err));
  });
}

/** Resolves on 'drain' or 'close', whichever comes first, leaving no listener behind. */
function drainedOrClosed(req: ClientRequest): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      req.off('drain', done);
      req.off('close', done);
      resolve();
    };
    req.on('drain', done);
    req.on('close', done);
  });
}

export function expectStatus(r: Reply, want: number, what: string): void {
  if (r.status !== want) throw new Error(`${what}: HTTP ${r.status}, expected ${want}: ${r.text.slice(0, 500)}`);
}

/** Resolves a Location header against the server base URL. */
export function absolute(base: string, location: string | undefined): string {
  if (!location) throw new Error('response has no Location header');
  return new URL(location, base).toString();
}

/** Appends a query parameter to a URL that may already have a query. */
export function withParam(url: string, key: string, value: string): string {
  const u = new URL(url);
  u.searchParams.set(key, value);
  return u.toString();
}
