/**
 * Immutable tags (`policies[].immutable`): a tag matching one of the governing rule's patterns, once it exists,
 * is never moved to another digest nor deleted; pushing the digest it already names again is fine. Refused with
 * 403 DENIED naming the rule, unless the caller's access rules grant `overwrite` on the repository.
 *
 * A push of an immutable tag holds a lock on that tag (the upload locks: per process, or shared in Redis by
 * replicas) from the check until the tag is written, so two racing first pushes of a new immutable tag with
 * different digests cannot both succeed: the second sees the first's tag and is refused.
 */
import type { Account } from '../auth/policy.js';
import { ociError } from '../oci/errors.js';
import type { Digest } from '../oci/names.js';
import { LocalUploadLocks, type UploadLocks } from '../registry/locks.js';
import { ManifestUnknown } from '../registry/errors.js';
import type { Registry } from '../registry/registry.js';
import type { ImmutableMatch, PolicySet } from './match.js';

export interface TagGuardOptions {
  policies: PolicySet;
  /** Whether `account` holds `overwrite` on the repository (from access.rules; absent: nobody does). */
  mayOverwrite?: (account: Account, name: string) => boolean;
}

function refusal(name: string, tag: string, hit: ImmutableMatch, what: string) {
  return ociError(
    'DENIED',
    { Name: name, Tag: tag, rule: `policies[${hit.rule}]`, pattern: hit.pattern },
    `tag ${tag} is immutable (policies[${hit.rule}].immutable: ${hit.pattern}): it cannot be ${what}`,
  );
}

/** How long a push waits for another push of the same immutable tag to finish before it is told to retry. */
const TAG_LOCK_WAIT_MS = 10_000;
const TAG_LOCK_POLL_MS = 20;

export class TagGuard {
  /** Used when the registry has no shared locks of its own (one process). */
  private readonly localLocks = new LocalUploadLocks();

  constructor(private readonly opts: TagGuardOptions) {}

  private exempt(account: Account, name: string): boolean {
    return this.opts.mayOverwrite?.(account, name) ?? false;
  }

  /**
   * Pushes `next` as `tag` through `write` (which stores the manifest and then tags it), refusing to move an
   * existing immutable tag to another digest. For an immutable tag the check and `write` run under the tag's lock.
   */
  async putTag<T>(
    registry: Registry,
    name: string,
    tag: string,
    next: Digest,
    account: Account,
    write: () => Promise<T>,
  ): Promise<T> {
    const hit = this.opts.policies.immutable(name, tag);
    if (!hit || this.exempt(account, name)) return write();
    const release = await waitForLock(registry.options.uploadLocks ?? this.localLocks, `tag:${name}:${tag}`);
    try {
      const current = await currentDigest(registry, name, tag);
      if (current !== null && current !== next.value)
        throw refusal(name, tag, hit, `moved to another digest (it is ${current})`);
      return await write();
    } finally {
      await release();
    }
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

async function waitForLock(locks: UploadLocks, key: string): Promise<() => Promise<void>> {
  const until = Date.now() + TAG_LOCK_WAIT_MS;
  for (;;) {
    const release = await locks.acquire(key);
    if (release) return release;
    if (Date.now() >= until)
      throw ociError('TOOMANYREQUESTS', undefined, 'another push of this immutable tag is still running; retry');
    await new Promise((resolve) => setTimeout(resolve, TAG_LOCK_POLL_MS));
  }
}

async function currentDigest(registry: Registry, name: string, tag: string): Promise<string | null> {
  try {
    return (await registry.tags.get(name, tag)).value;
  } catch (err) {
    if (err instanceof ManifestUnknown) return null;
    throw err;
  }
}
