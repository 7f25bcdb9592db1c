/**
 * The request pipeline as an ordered list of steps (steps.ts; the contract and the runner are in pipeline.ts): one
 * error mapper for every step, one access-log line and one count per request. Every response carries
 * Docker-Distribution-API-Version and http.headers.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TrustedProxies } from '../auth/clientaddress.js';
import type { AccessController } from '../auth/controller.js';
import { ociError, OciError, toOciError } from '../oci/errors.js';
import { InvalidPathError, StorageFullError, StorageUnavailableError } from '../storage/driver.js';
import type { AppContext } from './context.js';
import type { Metrics } from '../metrics.js';
import type { DebugOptions } from './debug.js';
import { Exchange, runSteps, type Site, type Step } from './pipeline.js';
import * as steps from './steps.js';

export interface PipelineOptions {
  app: AppContext;
  auth: AccessController;
  readOnly: boolean;
  /** http.headers from the config. */
  headers: Record<string, readonly string[]>;
  accessLog: boolean;
  metrics: Metrics;
  /** Liveness/readiness probes answered at /livez and /readyz. */
  probes: DebugOptions;
  /** The web UI (src/ui): the paths it claims within http.prefix (`/` only for browsers), answered before the API routes. */
  ui?: {
    matches(path: string, req: IncomingMessage): boolean;
    handle(req: IncomingMessage, res: ServerResponse, path: string): Promise<void>;
  };
  /** `http.trustedproxies`: decides each request's client address, once, for throttling and the access log. */
  trustedProxies?: TrustedProxies;
  /** The built-in token server, answered at its own path (outside http.prefix). */
  tokenServer?: { path: string; handle: (req: IncomingMessage, res: ServerResponse) => Promise<void> };
}

/** The steps every request goes through, in order; absent options leave their step out. */
function pipelineSteps(opts: PipelineOptions): Step[] {
  const list: Array<Step | false | undefined> = [
    steps.observe(opts.accessLog),
    opts.trustedProxies && steps.clientAddress(opts.trustedProxies),
    steps.responseHeaders(opts.headers),
    steps.framing(opts.app.host),
    // Probes and the token server live at fixed paths, outside http.prefix.
    steps.probes(opts.probes),
    opts.tokenServer && steps.tokenServer(opts.tokenServer),
    opts.app.prefix !== '' && steps.prefix(opts.app.prefix),
    opts.ui && steps.ui(opts.ui),
    steps.root,
    steps.route,
    steps.repositoryName,
    opts.readOnly && steps.readOnly(true),
    steps.proxyWrites,
    steps.authorize,
    steps.dispatch,
  ];
  return list.filter((s): s is Step => !!s);
}

export function createHandler(opts: PipelineOptions): (req: IncomingMessage, res: ServerResponse) => void {
  const { app } = opts;
  const all = pipelineSteps(opts);
  const site: Site = { app, auth: opts.auth, metrics: opts.metrics, mapError };
  return (req, res) => runSteps(all, new Exchange(req, res, site));

  function mapError(err: unknown, requestId: string): OciError {
    if (err instanceof OciError) return err;
    if (err instanceof InvalidPathError) return ociError('NAME_INVALID');
    if (err instanceof StorageFullError) {
      // The driver's message names the file: logged, never sent.
      app.log.error(
        { err: err.message, request_id: requestId },
        err.kind === 'full' ? 'storage is full' : 'storage refuses writes',
      );
      const message =
        err.kind === 'full'
          ? 'storage is full: no space left or quota exceeded; retry once space is freed'
          : 'storage refuses writes (read-only); reads still work';
      return new OciError('UNAVAILABLE', undefined, { message, headers: { 'Retry-After': '60' } });
    }
    if (err instanceof StorageUnavailableError) {
      app.log.error({ err: err.message, request_id: requestId }, 'storage unavailable');
      return ociError('UNAVAILABLE', undefined, 'storage is unavailable, retry later');
    }
    const code = (err as NodeJS.ErrnoException)?.code;
    if (code === 'ECONNRESET' || code === 'ERR_STREAM_PREMATURE_CLOSE' || (err as Error)?.message === 'aborted') {
      return ociError('BLOB_UPLOAD_INVALID', undefined, 'the request body ended early');
    }
    app.log.error({ err, request_id: requestId }, 'request failed');
    return toOciError(err);
  }
}
