/** The whole API on one screen: path patterns, their parameters and a handler per method. */
import type { RouteName } from '../auth/access.js';
import { getBase } from './base.js';
import { deleteBlob, getBlob } from './blobs.js';
import { getCatalog } from './catalog.js';
import type { Ctx, ParamName } from './context.js';
import { deleteManifest, getManifest, putManifest } from './manifests.js';
import { getReferrers } from './referrers.js';
import { getTags } from './tags.js';
import { deleteUpload, getUpload, patchUpload, putUpload, startUpload } from './uploads.js';

export type Handler<P extends ParamName = never> = (ctx: Ctx<P>) => Promise<void>;

/** A route whose pattern captures, in order, the parameters `params`; its handlers may read exactly those. */
export interface Route<P extends ParamName = ParamName> {
  name: RouteName;
  pattern: RegExp;
  params: readonly P[];
  methods: Partial<Record<string, Handler<P>>>;
  /** Methods that write: refused in read-only mode. */
  writes: readonly string[];
}

/** Checks at compile time that every handler of `r` reads only parameters its pattern captures. */
function route<P extends ParamName = never>(r: {
  name: RouteName;
  pattern: RegExp;
  params: readonly P[];
  methods: Partial<Record<string, Handler<NoInfer<P>>>>;
  writes: readonly string[];
}): Route {
  // A handler of fewer parameters takes a Ctx of more: widening P here is sound, and the loss of P is what lets
  // the table hold routes of different parameters.
  return r as unknown as Route;
}

export const ROUTES: readonly Route[] = [
  route({ name: 'base', pattern: /^\/v2\/?$/, params: [], methods: { GET: getBase, HEAD: getBase }, writes: [] }),
  route({ name: 'catalog', pattern: /^\/v2\/_catalog$/, params: [], methods: { GET: getCatalog }, writes: [] }),
  route({ name: 'tags', pattern: /^\/v2\/(.+)\/tags\/list$/, params: ['name'], methods: { GET: getTags }, writes: [] }),
  route({
    name: 'manifest',
    pattern: /^\/v2\/(.+)\/manifests\/([^/]+)$/,
    params: ['name', 'reference'],
    methods: { GET: getManifest, HEAD: getManifest, PUT: putManifest, DELETE: deleteManifest },
    writes: ['PUT', 'DELETE'],
  }),
  route({
    name: 'uploadStart',
    pattern: /^\/v2\/(.+)\/blobs\/uploads\/?$/,
    params: ['name'],
    methods: { POST: startUpload },
    writes: ['POST'],
  }),
  route({
    name: 'upload',
    pattern: /^\/v2\/(.+)\/blobs\/uploads\/([^/]+)$/,
    params: ['name', 'uuid'],
    methods: { GET: getUpload, PATCH: patchUpload, PUT: putUpload, DELETE: deleteUpload },
    writes: ['PATCH', 'PUT', 'DELETE'],
  }),
  route({
    name: 'blob',
    pattern: /^\/v2\/(.+)\/blobs\/([^/]+)$/,
    params: ['name', 'digest'],
    methods: { GET: getBlob, HEAD: getBlob, DELETE: deleteBlob },
    writes: ['DELETE'],
  }),
  route({
    name: 'referrers',
    pattern: /^\/v2\/(.+)\/referrers\/([^/]+)$/,
    params: ['name', 'digest'],
    methods: { GET: getReferrers },
    writes: [],
  }),
];

/** The parameters a match captured: those of its route, nothing else. */
export type MatchedParams = Partial<Record<ParamName, string>>;

export function matchRoute(path: string): { route: Route; params: MatchedParams } | null {
  for (const route of ROUTES) {
    const m = route.pattern.exec(path);
    if (!m) continue;
    const params: MatchedParams = {};
    for (let i = 0; i < route.params.length; i++) params[route.params[i]] = decodeSegment(m[i + 1]);
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
