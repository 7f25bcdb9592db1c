/**
 * Distribution's event format (notifications/event.go, bridge.go), built from what a handler knows. The JSON field
 * names and their omission when empty follow v2.8 and the documentation; see buildEvent for where v3 differs.
 */
import { randomUUID } from 'node:crypto';

/** Content-Type of every POST; the body is an envelope `{"events": [...]}`. */
export const EVENTS_MEDIA_TYPE = 'application/vnd.docker.distribution.events.v2+json';

/** Distribution reports blobs with this media type: it does not know what a blob holds. */
export const BLOB_MEDIA_TYPE = 'application/octet-stream';

export type EventAction = 'pull' | 'push' | 'mount' | 'delete';

/** A descriptor as a manifest lists it (mediaType, digest, size, and whatever else it carries). */
export interface EventDescriptor {
  mediaType: string;
  digest: string;
  size: number;
  [key: string]: unknown;
}

export interface EventTarget {
  mediaType?: string;
  digest?: string;
  size?: number;
  /** Same as size; Distribution keeps it for old consumers. */
  length?: number;
  repository?: string;
  fromRepository?: string;
  url?: string;
  tag?: string;
  references?: EventDescriptor[];
}

export interface RequestRecord {
  id: string;
  addr?: string;
  host?: string;
  method: string;
  useragent: string;
}

export interface SourceRecord {
  addr?: string;
  instanceID?: string;
}

export interface Event {
  id: string;
  timestamp: string;
  action: EventAction;
  target: EventTarget;
  request: RequestRecord;
  actor: { name?: string };
  source: SourceRecord;
}

export interface Envelope {
  events: Event[];
}

/**
 * What a handler reports. `kind` decides the target's URL (manifests and blobs have one; a deleted tag has none).
 * `manifest` is the parsed manifest body, read only when `notifications.events.includereferences` is set.
 */
export type EventInput =
  | {
      action: 'push' | 'pull';
      kind: 'manifest';
      repository: string;
      digest: string;
      mediaType: string;
      size: number;
      tag?: string;
      manifest?: unknown;
    }
  | { action: 'push' | 'pull'; kind: 'blob'; repository: string; digest: string; size: number }
  | { action: 'mount'; kind: 'blob'; repository: string; digest: string; size: number; fromRepository?: string }
  | { action: 'delete'; kind: 'manifest' | 'blob'; repository: string; digest: string }
  | { action: 'delete'; kind: 'tag'; repository: string; tag: string };

/** The request-scoped parts of an event: who asked, how, and how to link to content. */
export interface EventContext {
  request: RequestRecord;
  /** The authenticated user; absent for anonymous requests (the actor is then `{}`, as in Distribution). */
  actor?: string;
  /** Absolute (or, with http.relativeurls, relative) URL of a registry path such as `/v2/<name>/blobs/<digest>`. */
  url(path: string): string;
}

export interface BuildOptions {
  source: SourceRecord;
  includeReferences: boolean;
  now?: () => Date;
  newId?: () => string;
}

/** Descriptors a manifest references: config then layers for an image (subject excluded), children for an index. */
export function manifestReferences(manifest: unknown): EventDescriptor[] {
  if (typeof manifest !== 'object' || manifest === null) return [];
  const m = manifest as { config?: EventDescriptor; layers?: EventDescriptor[]; manifests?: EventDescriptor[] };
  if (Array.isArray(m.manifests)) return [...m.manifests];
  const out: EventDescriptor[] = [];
  if (m.config) out.push(m.config);
  if (Array.isArray(m.layers)) out.push(...m.layers);
  return out;
}

/**
 * One event as Distribution's bridge builds it. Empty fields are left out (v2.8's omitempty; the documented
 * delete target is `{digest, repository}`); Distribution v3 serialises its OCI descriptor without omitempty and
 * so also sends `"mediaType": "", "size": 0` on delete targets, which consumers cannot rely on either way.
 */
export function buildEvent(input: EventInput, ctx: EventContext, opts: BuildOptions): Event {
  const target: EventTarget = {};
  switch (input.kind) {
    case 'manifest':
      if (input.action === 'delete') {
        target.digest = input.digest;
        target.repository = input.repository;
      } else {
        target.mediaType = input.mediaType;
        target.digest = input.digest;
        target.size = input.size;
        target.length = input.size;
        target.repository = input.repository;
        target.url = ctx.url(`/v2/${input.repository}/manifests/${input.digest}`);
        if (input.tag !== undefined) target.tag = input.tag;
        if (opts.includeReferences) {
          const refs = manifestReferences(input.manifest);
          if (refs.length > 0) target.references = refs;
        }
      }
      break;
    case 'blob':
      if (input.action === 'delete') {
        target.digest = input.digest;
        target.repository = input.repository;
      } else {
        target.mediaType = BLOB_MEDIA_TYPE;
        target.digest = input.digest;
        target.size = input.size;
        target.length = input.size;
        target.repository = input.repository;
        if (input.action === 'mount' && input.fromRepository !== undefined)
          target.fromRepository = input.fromRepository;
        target.url = ctx.url(`/v2/${input.repository}/blobs/${input.digest}`);
      }
      break;
    case 'tag':
      target.repository = input.repository;
      target.tag = input.tag;
      break;
  }
  return {
    id: (opts.newId ?? randomUUID)(),
    timestamp: (opts.now?.() ?? new Date()).toISOString(),
    action: input.action,
    target,
    request: ctx.request,
    actor: ctx.actor ? { name: ctx.actor } : {},
    source: opts.source,
  };
}

/**
 * The client address as Distribution's context.RemoteAddr reports it: the first X-Forwarded-For entry, else
 * X-Real-IP, else the connection's address and port.
 */
export function remoteAddr(
  headers: Record<string, string | string[] | undefined>,
  socket: { remoteAddress?: string; remotePort?: number },
): string | undefined {
  const first = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v);
  const xff = first(headers['x-forwarded-for'])?.split(',')[0].trim();
  if (xff) return xff;
  const real = first(headers['x-real-ip'])?.trim();
  if (real) return real;
  if (!socket.remoteAddress) return undefined;
  const host = socket.remoteAddress.includes(':') ? `[${socket.remoteAddress}]` : socket.remoteAddress;
  return socket.remotePort !== undefined ? `${host}:${socket.remotePort}` : host;
}
