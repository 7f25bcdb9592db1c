/**
 * What the server does when something goes wrong outside a request handler: a request Node's parser refuses
 * (`clientError`), a CONNECT (`connect`), and the process-level guard of last resort.
 *
 * Refusals are written straight to the socket in the registry's shape (JSON error body,
 * Docker-Distribution-API-Version, http.headers), then the connection is closed: after a framing error the rest
 * of the bytes on it cannot be trusted to start a request.
 */
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { errorBody, OciError, ociError } from '../oci/errors.js';
import { badRequest } from './framing.js';

/** The error for a parser refusal code (llhttp's `HPE_*`, Node's `ERR_HTTP_*`); `afterRequest`: it came after a complete request. */
function parserError(code: string | undefined, afterRequest: boolean): OciError {
  if (afterRequest)
    return ociError(
      'SIZE_INVALID',
      null,
      'bytes after the end of the request body: is the body longer than its Content-Length?',
    );
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return new OciError('UNSUPPORTED', null, { message: 'request headers too large', status: 431 });
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return new OciError('UNSUPPORTED', null, { message: 'request timed out', status: 408 });
    case 'HPE_INVALID_CONTENT_LENGTH':
    case 'HPE_UNEXPECTED_CONTENT_LENGTH':
      return ociError('SIZE_INVALID', null, 'malformed or conflicting Content-Length');
    case 'HPE_INVALID_TRANSFER_ENCODING':
    case 'HPE_INVALID_CHUNK_SIZE':
      return badRequest('malformed Transfer-Encoding or chunk');
    case 'HPE_INVALID_EOF_STATE':
      // The client closed its side before the whole declared body arrived.
      return ociError(
        'SIZE_INVALID',
        null,
        'the request body ended before it was complete (shorter than its Content-Length, or its last chunk missing)',
      );
    default:
      // Includes bytes after a body longer than its Content-Length, read as a next request that makes no sense.
      return badRequest('malformed HTTP request');
  }
}

/** A complete HTTP/1.1 response carrying `err`, closing the connection. */
export function rawErrorResponse(err: OciError, headers: Record<string, readonly string[]>): string {
  const body = errorBody([err]);
  const lines = [
    `HTTP/1.1 ${err.status} ${STATUS_CODES[err.status] ?? 'Error'}`,
    'Content-Type: application/json; charset=utf-8',
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Docker-Distribution-API-Version: registry/2.0',
  ];
  for (const [k, values] of Object.entries(headers))
    for (const v of values) if (!/[\r\n]/.test(k + v)) lines.push(`${k}: ${v}`);
  lines.push('Connection: close');
  return `${lines.join('\r\n')}\r\n\r\n${body}`;
}

/**
 * The server's `clientError` listener. Nothing is written once a response on the socket has started, or when the
 * socket is gone (it is destroyed). When the bytes after a complete request make no sense (a body longer than its
 * Content-Length), that request is still answered first, in order, and the refusal follows it; only then is the
 * connection closed.
 */
export function clientErrorHandler(
  headers: Record<string, readonly string[]>,
  log: Logger,
): (err: NodeJS.ErrnoException, socket: Duplex) => void {
  return (err, socket) => {
    try {
      const pending = (socket as { _httpMessage?: ServerResponse | null })._httpMessage;
      if (err.code === 'ECONNRESET' || !socket.writable || pending?.headersSent) {
        socket.destroy();
        return;
      }
      log.debug({ code: err.code, reason: (err as { reason?: string }).reason }, 'refused a malformed request');
      // Whether the error is inside the body of the request in flight (malformed chunks, a body cut short): then
      // the refusal is that request's answer. Otherwise it is in bytes after a complete request.
      const incoming = (socket as { parser?: { incoming?: IncomingMessage | null } | null }).parser?.incoming;
      const inBody = err.code === 'HPE_INVALID_EOF_STATE' || (incoming != null && !incoming.complete);
      const answer = rawErrorResponse(parserError(err.code, pending != null && !inBody), headers);
      if (pending && !pending.writableEnded && !inBody) {
        pending.shouldKeepAlive = false;
        const after = () => setImmediate(() => (socket.writable ? socket.end(answer) : socket.destroy()));
        pending.once('finish', after);
        return;
      }
      socket.end(answer);
    } catch {
      socket.destroy();
    }
  };
}

/** The server's `connect` listener: a registry is not a proxy. Without one, Node drops the connection silently. */
export function connectHandler(
  headers: Record<string, readonly string[]>,
): (req: IncomingMessage, socket: Duplex) => void {
  return (_req, socket) => {
    socket.on('error', () => socket.destroy());
    const err = new OciError(
      'UNSUPPORTED',
      { method: 'CONNECT' },
      { message: 'CONNECT is not supported: this registry is not a proxy' },
    );
    if (socket.writable) socket.end(rawErrorResponse(err, headers));
    else socket.destroy();
  };
}

/** The environment variable that turns the process guard off (tests do, so that a crash shows as a dead process). */
export const GUARD_ENV = 'WHARF_PROCESS_GUARD';

/**
 * The guard of last resort: an exception or rejection that escaped every request handler is logged with its stack
 * (never sent to a client) and the process keeps serving. Nothing should reach it: each request answers its own
 * errors. Off when `WHARF_PROCESS_GUARD=off`. Returns a function that removes it.
 */
export function installProcessGuard(log: Logger, env: NodeJS.ProcessEnv = process.env): () => void {
  if (env[GUARD_ENV] === 'off') return () => {};
  const onException = (err: unknown) =>
    log.error({ err }, 'unexpected error outside any request (a bug); still serving');
  const onRejection = (reason: unknown) =>
    log.error({ err: reason }, 'unhandled promise rejection (a bug); still serving');
  process.on('uncaughtException', onException);
  process.on('unhandledRejection', onRejection);
  return () => {
    process.off('uncaughtException', onException);
    process.off('unhandledRejection', onRejection);
  };
}
