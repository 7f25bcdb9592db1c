/**
 * The request pipeline's machinery: an Exchange (one request, as the steps see it and as its handler's Ctx), the
 * Step contract, and the runner. The steps themselves, in order, are listed in server.ts.
 *
 * Cost per request, on purpose: one Exchange object, no closure (the close listener and the error path are shared
 * functions that find the Exchange on the response), and a promise only where a step is asynchronous.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AccessController } from '../auth/controller.js';
import { OciError } from '../oci/errors.js';
import { countBodyBytes, type Metrics } from '../metrics.js';
import { domainErrors } from './domainerrors.js';
import { sendErrors, type AppContext, type Ctx, type ParamName, type Peer } from './context.js';
import type { Handler, MatchedParams, Route } from './routes.js';

/** What a step tells the runner: pass the request on, or it is answered (or handed to what will answer it). */
export type Outcome = 'next' | 'done';

/**
 * One step of the pipeline. `run` returns 'next' to pass the request to the following step, or 'done' once it
 * answered. It may be asynchronous: a promise resolving to 'next' continues, to 'done' or nothing ends. A throw
 * or rejection is answered by the pipeline's error mapper (one OCI error body), never by the step itself.
 * Steps are made once per server: per-request state lives on the Exchange, never in the step.
 */
export interface Step {
  readonly name: string;
  run(x: Exchange): Outcome | Promise<Outcome | void>;
}

/** What every request of one server shares: made once by createHandler. */
export interface Site {
  app: AppContext;
  auth: AccessController;
  metrics: Metrics;
  /** Translates a failure into the OCI error to answer (logging what must not be sent). */
  mapError(err: unknown, requestId: string): OciError;
}

const allowAll = (): boolean => true;
const NO_PARAMS: MatchedParams = Object.freeze({});

/** One request on its way through the steps; handlers see it as their Ctx. */
export class Exchange implements Ctx {
  readonly started = process.hrtime.bigint();
  readonly method: string;
  readonly requestId = randomUUID();
  /** What the access log, notifications and Location need of the socket, taken now: it may be gone by the close. */
  readonly peer: Peer;
  /** Request body bytes so far, for the metrics. */
  readonly received: () => number;
  /** The client address (http.trustedproxies decides), for the access log. */
  remote: string | undefined;
  /** The path as the steps have made it so far: the request target's, then without http.prefix. */
  path: string;
  rawQuery = '';
  /** Set by the route step; a handler's Ctx<P> types them (see routes.ts). */
  params: MatchedParams = NO_PARAMS;
  user: string | undefined = undefined;
  readsAll: boolean;
  mayPull: (name: string) => boolean = allowAll;
  /** The route name in the metrics: none until a step names it. */
  routeName = 'none';
  route: Route | null = null;
  handler: Handler<ParamName> | null = null;
  /** Counted in uploadsInProgress until the response closes. */
  upload = false;
  private parsedQuery: URLSearchParams | null = null;

  constructor(
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    readonly site: Site,
  ) {
    this.method = req.method ?? 'GET';
    this.peer = snapshotPeer(req);
    this.received = countBodyBytes(req);
    this.remote = this.peer.address;
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    this.path = q < 0 ? url : url.slice(0, q);
    this.readsAll = site.auth.readsAll;
  }

  get app(): AppContext {
    return this.site.app;
  }

  /** Parsed on first use: most requests never read their query. */
  get query(): URLSearchParams {
    return (this.parsedQuery ??= new URLSearchParams(this.rawQuery));
  }

  /** Answers an error once (or closes the connection when the response has started); never throws. */
  fail(err: unknown): void {
    try {
      discardRest(this.req);
      const errors = domainErrors(err) ?? [this.site.mapError(err, this.requestId)];
      sendErrors(this.res, this.method, errors);
    } catch (e) {
      this.app.log.error({ err: e, request_id: this.requestId }, 'cannot answer a failed request');
      this.res.destroy();
    }
  }
}

/** Runs `steps` from `from` on `x`: synchronously while the steps are, resuming after each asynchronous one. */
export function runSteps(steps: readonly Step[], x: Exchange, from = 0): void {
  try {
    for (let i = from; i < steps.length; i++) {
      const out = steps[i].run(x);
      if (out === 'next') continue;
      if (out !== 'done') void resume(steps, x, i, out);
      return;
    }
  } catch (err) {
    x.fail(err);
  }
}

async function resume(
  steps: readonly Step[],
  x: Exchange,
  at: number,
  pending: Promise<Outcome | void>,
): Promise<void> {
  let out: Outcome | void;
  try {
    out = await pending;
  } catch (err) {
    x.fail(err);
    return;
  }
  if (out === 'next') runSteps(steps, x, at + 1);
}

/** The socket facts a request needs after its socket may be gone. */
function snapshotPeer(req: IncomingMessage): Peer {
  const s = req.socket as (IncomingMessage['socket'] & { encrypted?: boolean }) | null;
  return {
    address: s?.remoteAddress,
    port: s?.remotePort,
    localAddress: s?.localAddress,
    localPort: s?.localPort,
    encrypted: s?.encrypted === true,
  };
}

/** Bytes of an abandoned request body read and dropped before the connection is closed instead. */
const DISCARD_LIMIT = 64 * 1024 * 1024;

/**
 * After a handler stopped reading a body it refused (a full disk, a size mismatch), the rest is read and dropped so
 * that the client, still sending, gets to read the answer instead of a reset, and the connection stays usable. A body
 * that goes on past DISCARD_LIMIT has its connection closed at once.
 */
function discardRest(req: IncomingMessage): void {
  if (req.complete || req.destroyed) return;
  let dropped = 0;
  req.on('data', (chunk: Buffer) => {
    dropped += chunk.length;
    if (dropped > DISCARD_LIMIT) req.destroy();
  });
  req.on('error', () => undefined);
  req.resume();
}
