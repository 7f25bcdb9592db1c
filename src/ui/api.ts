/**
 * The UI's JSON endpoints, for what the v2 API lacks: who the caller is and what the registry allows
 * (`session`), a searchable repository list with tag counts and push times (`repositories`), tags with their
 * digest, size, platforms and push time (`tags`), whether the caller may delete in a repository (`permissions`),
 * image configs that a blob redirect would put out of the page's reach (`config`), and what cleanup would do to
 * a repository, with the bytes each tag holds alone (`lifecycle`, see src/policies). Each asks the auth method
 * for the same access as the v2 endpoint it extends, so a refusal is the same 401 challenge (with its scope, for
 * token auth) or 403 DENIED, and the access rules apply unchanged.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { repositoryAccess, type Access } from '../auth/access.js';
import type { AccessController, AuthResult } from '../auth/controller.js';
import { JSON_TYPE, sendErrors } from '../http/context.js';
import { domainErrors } from '../http/domainerrors.js';
import { ociError, OciError, toOciError } from '../oci/errors.js';
import { checkDigest, checkName } from '../oci/names.js';
import type { PolicySet } from '../policies/match.js';
import type { Registry } from '../registry/registry.js';
import { repositoryLifecycle } from './lifecycle.js';
import { mapLimit } from '../storage/maplimit.js';
import { Summaries, tagPushedAt } from './summary.js';

export interface UiApiOptions {
  auth: AccessController;
  registry: Registry;
  /** storage.delete.enabled and not read-only. */
  deleteEnabled: boolean;
  /** The lifecycle rules in force, and gc.graceperiod (for `lifecycle`). */
  policies?: PolicySet;
  graceMs?: number;
  onError: (err: unknown) => void;
  /** The upstream a repository caches (pull-through cache), shown beside its name. */
  upstreamOf?: (name: string) => { label: string; url: string } | undefined;
}

const CATALOG: Access[] = [{ type: 'registry', class: '', name: 'catalog', action: '*' }];
const PAGE_DEFAULT = 25;
const PAGE_MAX = 100;
/** Concurrent storage reads per request. */
const CONCURRENCY = 16;
const MAX_CONFIG_BYTES = 1024 * 1024;

export class UiApi {
  private readonly summaries: Summaries;

  constructor(private readonly opts: UiApiOptions) {
    this.summaries = new Summaries(opts.registry);
  }

  /** Answers `endpoint` (the path after `_ui/api/`); GET only. */
  async handle(
    req: IncomingMessage,
    res: ServerResponse,
    endpoint: string,
    query: URLSearchParams,
    headers: Record<string, string>,
  ): Promise<void> {
    const method = req.method ?? 'GET';
    try {
      if (method !== 'GET' && method !== 'HEAD')
        throw new OciError('UNSUPPORTED', { method }, { headers: { Allow: 'GET, HEAD' } });
      let body: unknown;
      switch (endpoint) {
        case 'session':
          body = await this.session(req);
          break;
        case 'repositories':
          body = await this.repositories(req, query);
          break;
        case 'tags':
          body = await this.tags(req, query);
          break;
        case 'permissions':
          body = await this.permissions(req, query);
          break;
        case 'config':
          body = await this.config(req, query);
          break;
        case 'lifecycle': {
          const name = checkName(query.get('repository') ?? '');
          await this.require(req, repositoryAccess(name, ['pull']));
          if ((await this.opts.registry.tags.all(name)) === null) throw ociError('NAME_UNKNOWN', { name });
          body = await repositoryLifecycle(
            this.opts.registry,
            this.opts.policies,
            name,
            this.opts.graceMs ?? 3_600_000,
          );
          break;
        }
        default:
          throw ociError('UNSUPPORTED', { endpoint }, 'no such UI endpoint');
      }
      const text = JSON.stringify(body) + '\n';
      res.writeHead(200, {
        ...headers,
        'Content-Type': JSON_TYPE,
        'Content-Length': Buffer.byteLength(text),
        'Cache-Control': 'no-store',
      });
      res.end(method === 'HEAD' ? undefined : text);
    } catch (err) {
      const domain = domainErrors(err);
      if (!(err instanceof OciError) && !domain) this.opts.onError(err);
      for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
      res.setHeader('Cache-Control', 'no-store');
      sendErrors(res, method, domain ?? [toOciError(err)]);
    }
  }

  /** The caller's identity and the registry's switches. Anonymous callers get the challenge they would log in to. */
  private async session(req: IncomingMessage): Promise<Record<string, unknown>> {
    const r = await this.opts.auth.authorize(req, []);
    if (!r.granted && req.headers.authorization !== undefined) throw refusal(r);
    return {
      auth: this.opts.auth.name,
      user: r.granted ? r.user || null : null,
      challenge: r.granted ? null : (r.headers['WWW-Authenticate'] ?? null),
      deleteEnabled: this.opts.deleteEnabled,
    };
  }

  private async require(req: IncomingMessage, access: Access[]): Promise<string | null> {
    const r = await this.opts.auth.authorize(req, access);
    if (!r.granted) throw refusal(r);
    return r.user || null;
  }

  /** `?q=` (substring), `?page=` (from 1), `?n=` (per page): the catalog as /v2/_catalog would list it to this caller. */
  private async repositories(req: IncomingMessage, query: URLSearchParams): Promise<Record<string, unknown>> {
    const user = await this.require(req, CATALOG);
    const policy = this.opts.auth.policy;
    const q = (query.get('q') ?? '').trim().toLowerCase();
    const per = clampInt(query.get('n'), 1, PAGE_MAX, PAGE_DEFAULT);
    const all = (await this.opts.registry.repositories()).filter(
      (name) =>
        (!policy || policy.allows(user, { type: 'repository', class: '', name, action: 'pull' })) &&
        (q === '' || name.includes(q)),
    );
    const pages = Math.max(1, Math.ceil(all.length / per));
    const page = clampInt(query.get('page'), 1, pages, 1);
    const names = all.slice((page - 1) * per, page * per);
    const repositories = await mapLimit(names, 4, async (name) => {
      const tags = (await this.opts.registry.tags.all(name)) ?? [];
      const times = await mapLimit(tags, CONCURRENCY, (t) => tagPushedAt(this.opts.registry, name, t));
      const latest = times.reduce<Date | null>((a, b) => (b && (!a || b > a) ? b : a), null);
      return {
        name,
        tags: tags.length,
        pushed: latest?.toISOString() ?? null,
        cachedFrom: this.opts.upstreamOf?.(name)?.url ?? null,
      };
    });
    return { repositories, total: all.length, page, pages, per };
  }

  private async tags(req: IncomingMessage, query: URLSearchParams): Promise<Record<string, unknown>> {
    const name = checkName(query.get('repository') ?? '');
    await this.require(req, repositoryAccess(name, ['pull']));
    const { registry } = this.opts;
    const all = await registry.tags.all(name);
    if (all === null) throw ociError('NAME_UNKNOWN', { name });
    const rows = await mapLimit(all, CONCURRENCY, async (tag) => {
      let digest;
      try {
        digest = await registry.tags.get(name, tag);
      } catch {
        return null; // deleted meanwhile
      }
      const [pushed, summary] = await Promise.all([tagPushedAt(registry, name, tag), this.summaries.of(digest)]);
      return {
        tag,
        digest: digest.value,
        pushed: pushed?.toISOString() ?? null,
        ...(summary ?? { mediaType: null, size: null, platforms: [] }),
      };
    });
    return {
      name,
      tags: rows.filter((r) => r !== null),
      mayDelete: await this.mayDelete(req, name),
      cachedFrom: this.opts.upstreamOf?.(name)?.url ?? null,
    };
  }

  private async permissions(req: IncomingMessage, query: URLSearchParams): Promise<Record<string, unknown>> {
    const name = checkName(query.get('repository') ?? '');
    await this.require(req, repositoryAccess(name, ['pull']));
    return { name, pull: true, delete: await this.mayDelete(req, name) };
  }

  /**
   * An image config blob (at most 1 MiB) read here: GET /v2/<name>/blobs/<digest> may redirect to storage (S3
   * presigned URLs) that the page's connect-src does not allow, so the page falls back to this.
   */
  private async config(req: IncomingMessage, query: URLSearchParams): Promise<unknown> {
    const name = checkName(query.get('repository') ?? '');
    await this.require(req, repositoryAccess(name, ['pull']));
    const d = checkDigest(query.get('digest') ?? '');
    const { size } = await this.opts.registry.blobs.stat(name, d);
    if (size > MAX_CONFIG_BYTES) throw ociError('SIZE_INVALID', { size }, 'the config is larger than the UI reads');
    try {
      return JSON.parse((await this.opts.registry.blobs.getSmall(d)).toString('utf8'));
    } catch (err) {
      if (err instanceof SyntaxError) throw ociError('UNSUPPORTED', undefined, 'the config is not JSON');
      throw err;
    }
  }

  /** Whether a DELETE would be allowed, asked of the auth method as the DELETE would be; the credentials have just passed, so this is never a failed login. */
  private async mayDelete(req: IncomingMessage, name: string): Promise<boolean> {
    if (!this.opts.deleteEnabled) return false;
    return (await this.opts.auth.authorize(req, repositoryAccess(name, ['delete']))).granted;
  }
}

function refusal(r: Extract<AuthResult, { granted: false }>): OciError {
  return new OciError(r.code, r.detail, { message: r.message, headers: r.headers });
}

function clampInt(v: string | null, min: number, max: number, def: number): number {
  const n = Number(v);
  if (v === null || v === '' || !Number.isInteger(n)) return def;
  return Math.min(max, Math.max(min, n));
}
