/**
 * What the registry layer throws when a request cannot be served as asked: plain domain errors, without HTTP
 * (no status, headers or body). Each names the OCI error code it stands for; src/http/domainerrors.ts translates
 * them into OCI errors at the HTTP edge, in one place. `reason`, when set, replaces the code's message there.
 */
import type { ErrorCode } from '../oci/errors.js';

export abstract class RegistryError extends Error {
  abstract readonly code: ErrorCode;

  constructor(
    /** The error's `detail` as the client sees it (undefined: none). */
    readonly detail?: unknown,
    /** A message for the client instead of the code's own. */
    readonly reason?: string,
  ) {
    super(reason ?? new.target.name);
    this.name = new.target.name;
  }
}

/** The repository does not hold the blob (not linked there, or its data is gone). */
export class BlobUnknown extends RegistryError {
  readonly code = 'BLOB_UNKNOWN';
  constructor(digest: string) {
    super(digest);
  }
}

/** No such manifest or tag in the repository; detail `{Name, Revision}`, `{Tag}` or none (a delete, as Distribution). */
export class ManifestUnknown extends RegistryError {
  readonly code = 'MANIFEST_UNKNOWN';
  constructor(detail?: { Name: string; Revision: string } | { Tag: string }) {
    super(detail);
  }
}

/** Content does not hash to the digest it was given under. */
export class DigestInvalid extends RegistryError {
  readonly code = 'DIGEST_INVALID';
  constructor(digest: string) {
    super({ digest }, 'provided digest did not match uploaded content');
  }
}

/** A manifest the registry's validation refuses. */
export class ManifestInvalid extends RegistryError {
  readonly code = 'MANIFEST_INVALID';
}

/** A manifest references a blob (or index child) the repository does not hold. */
export class ManifestBlobUnknown extends RegistryError {
  readonly code = 'MANIFEST_BLOB_UNKNOWN';
  constructor(digest: string) {
    super(digest);
  }
}

/** No such upload session in the repository. */
export class UploadUnknown extends RegistryError {
  readonly code = 'BLOB_UPLOAD_UNKNOWN';
  constructor(uuid: string) {
    super({ uuid });
  }
}

/** An upload body longer or shorter than declared. */
export class SizeInvalid extends RegistryError {
  readonly code = 'SIZE_INVALID';
  constructor(reason: string) {
    super(undefined, reason);
  }
}

/** A chunk that does not start where the session ends, or a second writer on the same session. */
export class RangeInvalid extends RegistryError {
  readonly code = 'RANGE_INVALID';
}

/** Refused by configuration: read-only mode, or deletes not enabled. */
export class Unsupported extends RegistryError {
  readonly code = 'UNSUPPORTED';
}

/** Several verification errors at once, each reported in the response body. */
export class ManifestVerificationError extends Error {
  constructor(readonly errors: RegistryError[]) {
    super('manifest verification failed');
    this.name = 'ManifestVerificationError';
  }
}
