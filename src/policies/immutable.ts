/**
 * Immutable tags (`policies[].immutable`): a tag matching one of the governing rule's patterns, once it exists,
 * is never moved to another digest nor deleted; pushing the digest it already names again is fine. Refused with
 * 403 DENIED naming the rule, unless the caller's access rules grant `overwrite` on the repository.
 *
 * The check reads the tag and then the handler writes it: two pushes of a new immutable tag racing each other can
 * both pass (the later one wins), as both would have been accepted one after the other only if equal. Moving an
 * existing one never races: it is refused whatever happens in between.
 */
import type { Account } from '../auth/policy.js';
import { ociError } from '../oci/errors.js';
import type { Digest } from '../oci/names.js';
import type { Registry } from '../registry/registry.js';
import type { ImmutableMatch, PolicySet } from './match.js';

export interface TagGuardOptions {
  policies: PolicySet;
  /** Whether `account` holds `overwrite` on the repository (from access.rules; absent: nobody does). */
  mayOverwrite?: (account: Account, name: string) => boolean;
}

function refusal(name: string, tag: string, hit: ImmutableMatch, what: string) {
  return ociError('DENIED', { Name: name, Tag: tag, rule: `policies[${hit.rule}]`, pattern: hit.pattern }, `tag ${tag} is immutable (policies[${hit.rule}].immutable: ${hit.pattern}): it cannot be ${what}`);
}

export class TagGuard {
  constructor(private readonly opts: TagGuardOptions) {}

  private exempt(account: Account, name: string): boolean {
    return this.opts.mayOverwrite?.(account, name) ?? false;
  }

  /** Before tagging `next`: refuses to move an existing immutable tag to another digest. */
  async checkPut(registry: Registry, name: string, tag: string, next: Digest, account: Account): Promise<void> {
    const hit = this.opts.policies.immutable(name, tag);
    if (!hit || this.exempt(account, name)) return;
    const current = await currentDigest(registry, name, tag);
    if (current !== null && current !== next.value) throw refusal(name, tag, hit, `moved to another digest (it is ${current})`);
  }

  /** Before deleting a tag. */
  async checkDeleteTag(registry: Registry, name: string, tag: string, account: Account): Promise<void> {
    const hit = this.opts.policies.immutable(name, tag);
    if (!hit || this.exempt(account, name)) return;
    if ((await currentDigest(registry, name, tag)) !== null) throw refusal(name, tag, hit, 'deleted');
  }

  /** Before deleting a manifest by digest, which deletes every tag naming it. */
  async checkDeleteManifest(registry: Registry, name: string, d: Digest, account: Account): Promise<void> {
    if (this.opts.policies.size === 0 || this.exempt(account, name)) return;
    for (const tag of await registry.tags.lookup(name, d)) {
      const hit = this.opts.policies.immutable(name, tag);
      if (hit) throw refusal(name, tag, hit, 'deleted, nor the manifest it names');
    }
  }
}

async function currentDigest(registry: Registry, name: string, tag: string): Promise<string | null> {
  try {
    return (await registry.tags.get(name, tag)).value;
  } catch (err) {
    if ((err as { code?: string }).code === 'MANIFEST_UNKNOWN') return null;
    throw err;
  }
}
