/**
 * The web UI, served by the registry itself: one HTML page, one script and one stylesheet from ./assets (copied
 * next to this file by the build) plus the JSON endpoints of api.ts, all under `ui.path` within http.prefix:
 *
 *   <path>                 the page; at `/` only for requests that accept text/html (others keep the empty 200)
 *   <path>_ui/app.js|css   assets; with `?v=<content hash>` cached for a year, else revalidated by ETag
 *   <path>_ui/api/...      JSON (api.ts)
 *
 * Every UI response carries a strict Content-Security-Policy (no inline script or style, same-origin only) and
 * the usual hardening headers. The browser code talks to /v2/ itself; credentials live in its memory only.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AccessController } from '../auth/controller.js';
import type { Config } from '../config/schema.js';
import type { Logger } from 'pino';
import type { PolicySet } from '../policies/match.js';
import type { Registry } from '../registry/registry.js';
import { UiApi } from './api.js';

export interface UiOptions {
  config: Readonly<Config>;
  auth: AccessController;
  registry: Registry;
  /** http.prefix without its trailing slash ("" for "/"). */
  prefix: string;
  log: Logger;
  /** The pull-through cache's upstream of a repository, if any (marked in the lists). */
  upstreamOf?: (name: string) => { label: string; url: string } | undefined;
  /** The lifecycle rules in force (for the cleanup preview). */
  policies?: PolicySet;
}

export interface UiRoute {
  /** Whether `path` (within http.prefix) is the UI's. */
  matches(path: string, req: IncomingMessage): boolean;
  handle(req: IncomingMessage, res: ServerResponse, path: string): Promise<void>;
}

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

const ASSET_TYPES: Record<string, string> = {
  'app.js': 'text/javascript; charset=utf-8',
  'app.css': 'text/css; charset=utf-8',
  'icon.svg': 'image/svg+xml',
};

export async function createUi(opts: UiOptions): Promise<UiRoute> {
  const base = opts.config.ui.path.replace(/\/*$/, '/');
  const assetsPath = `${base}_ui/`;
  const dir = new URL('./assets/', import.meta.url);
  const assets = new Map<string, Asset>();
  for (const [file, type] of Object.entries(ASSET_TYPES)) {
    const body = await readFile(new URL(file, dir));
    assets.set(file, { body, type, etag: etagOf(body) });
  }
  const version = (file: string) => assets.get(file)!.etag.slice(1, 13);
  const publicHost = opts.config.http.host ? new URL(opts.config.http.host).host : '';
  const template = await readFile(new URL('index.html', dir), 'utf8');
  const html = Buffer.from(
    template
      .replaceAll('{{assets}}', escapeHtml(`${opts.prefix}${assetsPath}`))
      .replaceAll('{{api}}', escapeHtml(opts.prefix))
      .replaceAll('{{host}}', escapeHtml(publicHost))
      .replaceAll('{{js}}', version('app.js'))
      .replaceAll('{{css}}', version('app.css'))
      .replaceAll('{{icon}}', version('icon.svg')),
  );
  const page: Asset = { body: html, type: 'text/html; charset=utf-8', etag: etagOf(html) };
  const security = securityHeaders(opts.config);
  const deleteEnabled = opts.config.storage.delete.enabled && !opts.config.storage.maintenance.readonly.enabled;
  const api = new UiApi({
    auth: opts.auth,
    registry: opts.registry,
    deleteEnabled,
    policies: opts.policies,
    upstreamOf: opts.upstreamOf,
    graceMs: opts.config.gc.graceperiod,
    onError: (err) => opts.log.error({ err }, 'ui: request failed'),
  });

  const isPage = (path: string) => path === base || (base !== '/' && path === base.slice(0, -1));

  return {
    matches(path, req) {
      if (path.startsWith(assetsPath)) return true;
      if (!isPage(path) || (req.method !== 'GET' && req.method !== 'HEAD')) return false;
      return base !== '/' || acceptsHtml(req);
    },
    async handle(req, res, path) {
      const url = req.url ?? '/';
      const q = url.indexOf('?');
      const query = new URLSearchParams(q < 0 ? '' : url.slice(q + 1));
      if (path.startsWith(`${assetsPath}api/`))
        return api.handle(req, res, path.slice(assetsPath.length + 4), query, security);
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { ...security, Allow: 'GET, HEAD', 'Content-Length': '0' });
        res.end();
        return;
      }
      if (isPage(path)) return send(req, res, page, { ...security, 'Cache-Control': 'no-cache', Vary: 'Accept' });
      const file = path.slice(assetsPath.length);
      const asset = assets.get(file);
      if (!asset) {
        const text = '404 page not found\n';
        res.writeHead(404, {
          ...security,
          'Content-Type': 'text/plain; charset=utf-8',
          'Content-Length': Buffer.byteLength(text),
        });
        res.end(req.method === 'HEAD' ? undefined : text);
        return;
      }
      const immutable = query.get('v') === version(file);
      send(req, res, asset, {
        ...security,
        'Cache-Control': immutable ? 'public, max-age=31536000, immutable' : 'no-cache',
      });
    },
  };
}

/**
 * The headers of every UI response. connect-src adds the token realm's origin when auth.token names one on another
 * host (that token server must then allow this origin by CORS); everything else is same-origin.
 */
export function securityHeaders(config: Readonly<Config>): Record<string, string> {
  const connect = ["'self'"];
  const token = config.auth?.token;
  if (token && !token.autoredirect) {
    try {
      const origin = new URL(token.realm).origin;
      if (origin !== 'null') connect.push(origin);
    } catch {
      /* a relative realm is same-origin */
    }
  }
  const csp = [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self'",
    `connect-src ${connect.join(' ')}`,
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; ');
  return {
    'Content-Security-Policy': csp,
    'X-Content-Type-Options': 'nosniff',
    'X-Frame-Options': 'DENY',
    'Referrer-Policy': 'no-referrer',
    'Cross-Origin-Opener-Policy': 'same-origin',
    'Cross-Origin-Resource-Policy': 'same-origin',
    'Permissions-Policy': 'camera=(), microphone=(), geolocation=(), payment=(), usb=()',
  };
}

function send(req: IncomingMessage, res: ServerResponse, asset: Asset, headers: Record<string, string>): void {
  const common = { ...headers, ETag: asset.etag };
  if (req.headers['if-none-match'] === asset.etag) {
    res.writeHead(304, common);
    res.end();
    return;
  }
  res.writeHead(200, { ...common, 'Content-Type': asset.type, 'Content-Length': asset.body.length });
  res.end(req.method === 'HEAD' ? undefined : asset.body);
}

/** A browser navigating (Accept lists text/html); curl, Docker and the conformance suite send other Accepts. */
function acceptsHtml(req: IncomingMessage): boolean {
  return /(^|,)\s*text\/html\s*(;|,|$)/i.test(req.headers.accept ?? '');
}

function etagOf(body: Buffer): string {
  return `"${createHash('sha256').update(body).digest('hex').slice(0, 32)}"`;
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
