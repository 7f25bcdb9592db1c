/** The one translation of the registry layer's domain errors (src/registry/errors.ts) into OCI errors. */
import { ociError, type OciError } from '../oci/errors.js';
import { ManifestVerificationError, RegistryError } from '../registry/errors.js';

/** The OCI error a domain error stands for (same code, its detail, its reason or the code's message). */
export function fromDomain(err: RegistryError): OciError {
  return ociError(err.code, err.detail, err.reason);
}

/** The OCI errors of anything the registry threw, or null when it is not a domain error. */
export function domainErrors(err: unknown): OciError[] | null {
  if (err instanceof RegistryError) return [fromDomain(err)];
  if (err instanceof ManifestVerificationError) return err.errors.map(fromDomain);
  return null;
}
