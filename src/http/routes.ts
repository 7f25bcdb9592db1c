/** The whole API on one screen: path patterns, their parameters and a handler per method. */
import type { RouteName } from '../auth/access.js';
import { getBase } from './base.js';
import { deleteBlob, getBlob } from './blobs.js';
import { getCatalog } from './catalog.js';
import type { Ctx, Params } from './context.js';
import { deleteManifest, getManifest, putManifest } from './manifests.js';
import { getReferrers } from './referrers.js';
import { getTags } from './tags.js';
import { deleteUpload, getUpload, patchUpload, putUpload, startUpload } from './uploads.js';

export type Handler = (ctx: Ctx) => Promise<void>;

export interface Route {
  name: RouteName;
  pattern: RegExp;
  params: Array<keyof Params>;
  methods: Partial<Record<string, Handler>>;
  /** Methods that write: refused in read-only mode. */
  writes: string[];
}

export const ROUTES: Route[] = [
  { name: 'base', pattern: /^\/v2\/?$/, params: [], methods: { GET: getBase, HEAD: getBase }, writes: [] },
  { name: 'catalog', pattern: /^\/v2\/_catalog$/, params: [], methods: { GET: getCatalog }, writes: [] },
  { name: 'tags', pattern: /^\/v2\/(.+)\/tags\/list$/, params: ['name'], methods: { GET: getTags }, writes: [] },
  { name: 'manifest', pattern: /^\/v2\/(.+)\/manifests\/([^/]+)$/, params: ['name', 'reference'], methods: { GET: getManifest, HEAD: getManifest, PUT: putManifest, DELETE: deleteManifest }, writes: ['PUT', 'DELETE'] },
  { name: 'uploadStart', pattern: /^\/v2\/(.+)\/blobs\/uploads\/?$/, params: ['name'], methods: { POST: startUpload }, writes: ['POST'] },
  { name: 'upload', pattern: /^\/v2\/(.+)\/blobs\/uploads\/([^/]+)$/, params: ['name', 'uuid'], methods: { GET: getUpload, PATCH: patchUpload, PUT: putUpload, DELETE: deleteUpload }, writes: ['PATCH', 'PUT', 'DELETE'] },
  { name: 'blob', pattern: /^\/v2\/(.+)\/blobs\/([^/]+)$/, params: ['name', 'digest'], methods: { GET: getBlob, HEAD: getBlob, DELETE: deleteBlob }, writes: ['DELETE'] },
  { name: 'referrers', pattern: /^\/v2\/(.+)\/referrers\/([^/]+)$/, params: ['name', 'digest'], methods: { GET: getReferrers }, writes: [] },
];

export function matchRoute(path: string): { route: Route; params: Params } | null {
  for (const route of ROUTES) {
    const m = route.pattern.exec(path);
    if (!m) continue;
    const params: Params = {};
    route.params.forEach((p, i) => {
      params[p] = decodeSegment(m[i + 1]);
    });
    return { route, params };
  }
  return null;
}

/** Percent-decoding of a path parameter; an undecodable one is kept raw and fails validation later. */
function decodeSegment(s: string): string {
  if (!s.includes('%')) return s;
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
