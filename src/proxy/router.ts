/**
 * Which upstream, if any, serves a repository name as the client sent it: a prefix (`hub/library/alpine`), else
 * containerd's `?ns=<host>` (sent when wharf is a hosts.toml mirror), else the short-form upstream that claims
 * every other name; names nothing claims are local repositories.
 */
import type { UpstreamSpec } from './config.js';

export interface ProxyRoute<U extends { spec: UpstreamSpec } = { spec: UpstreamSpec }> {
  upstream: U;
  /** Where the cache keeps it: the client's name, with the upstream's prefix when `ns` chose the upstream. */
  local: string;
  /** The name upstream (`library/` added for single-component Docker Hub names). */
  remote: string;
}

/** null: a local repository. 'unknown': a name no upstream can serve (an `ns` nobody claims, a bare prefix). */
export type Routing<U extends { spec: UpstreamSpec }> = ProxyRoute<U> | null | 'unknown';

export class ProxyRouter<U extends { spec: UpstreamSpec }> {
  private readonly fallback: U | undefined;

  constructor(readonly upstreams: readonly U[]) {
    this.fallback = upstreams.find((u) => u.spec.prefix === '');
  }

  /** Whether every repository is proxied (Distribution's mirror-only setup). */
  get mirrorOnly(): boolean {
    return this.fallback !== undefined;
  }

  route(name: string, ns?: string | null): Routing<U> {
    for (const u of this.upstreams) {
      const p = u.spec.prefix;
      if (p === '') continue;
      if (name === p) return 'unknown';
      if (name.startsWith(`${p}/`)) return this.make(u, name, name.slice(p.length + 1));
    }
    if (ns) {
      const host = ns.toLowerCase();
      const u = this.upstreams.find((x) => x.spec.ns.includes(host));
      if (u) return this.make(u, u.spec.prefix ? `${u.spec.prefix}/${name}` : name, name);
      // Mirroring a registry nobody configured would serve another registry's image under its name.
      if (this.fallback) return 'unknown';
      return null;
    }
    return this.fallback ? this.make(this.fallback, name, name) : null;
  }

  private make(u: U, local: string, remote: string): ProxyRoute<U> {
    return { upstream: u, local, remote: u.spec.dockerHub && !remote.includes('/') ? `library/${remote}` : remote };
  }
}
