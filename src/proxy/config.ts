/** The `proxy` section mapped to the upstreams wharf proxies: Distribution's short form plus wharf's `upstreams` list. */
import type { ProxyConfig } from './schema.js';

export const DEFAULT_TTL_MS = 168 * 3_600_000;
export const DEFAULT_TIMEOUT_MS = 30_000;

export interface UpstreamSpec {
  /** Repository prefix this upstream claims; "" for the short form, which claims every name no prefix claims. */
  prefix: string;
  /** How logs and metrics name it: the prefix, or the upstream's host for the short form. */
  label: string;
  /** The upstream registry's root (`https://registry-1.docker.io`), without a trailing slash. */
  url: URL;
  username?: string;
  password?: string;
  exec?: { command: string; lifetimeMs?: number };
  /** null: tags are never revalidated. */
  ttlMs: number | null;
  /** null: cached content is never removed. */
  expireMs: number | null;
  timeoutMs: number;
  /** Hosts containerd's `?ns=` names for this upstream, lower-cased. */
  ns: string[];
  /** Docker Hub: single-component names are `library/<name>` upstream. */
  dockerHub: boolean;
}

const HUB_HOSTS = new Set(['registry-1.docker.io', 'index.docker.io', 'docker.io', 'registry.hub.docker.com']);

type Fields = Omit<ProxyConfig, 'upstreams'>;

function spec(prefix: string, f: Fields & { remoteurl: string }): UpstreamSpec {
  const url = new URL(f.remoteurl);
  const base = new URL(url.origin);
  const dockerHub = HUB_HOSTS.has(url.hostname.toLowerCase());
  const ttlMs = f.ttl === undefined ? DEFAULT_TTL_MS : f.ttl > 0 ? f.ttl : null;
  const ns = (f.ns ?? [url.host, ...(dockerHub ? ['docker.io'] : [])]).map((h) => h.toLowerCase());
  return {
    prefix,
    label: prefix || url.host,
    url: base,
    username: f.username,
    password: f.password,
    exec: f.exec ? { command: f.exec.command, lifetimeMs: f.exec.lifetime } : undefined,
    ttlMs,
    expireMs: f.expire === undefined ? ttlMs : f.expire > 0 ? f.expire : null,
    timeoutMs: f.timeout ?? DEFAULT_TIMEOUT_MS,
    ns: [...new Set(ns)],
    dockerHub,
  };
}

/** The upstreams of a `proxy` section: prefixed ones first (longest prefix first), then the short form, if any. */
export function upstreamsOf(cfg: ProxyConfig): UpstreamSpec[] {
  const out = cfg.upstreams.map((u) => spec(u.prefix, u)).sort((a, b) => b.prefix.length - a.prefix.length);
  if (cfg.remoteurl !== undefined) out.push(spec('', { ...cfg, remoteurl: cfg.remoteurl }));
  return out;
}
