/** Grammars of the distribution-spec: repository names, tags and digests. */
import { ociError } from './errors.js';

const COMPONENT = '[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*';
const NAME_RE = new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`);
const TAG_RE = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
const DIGEST_RE = /^([a-z0-9]+(?:[.+_-][a-z0-9]+)*):([a-zA-Z0-9=_-]+)$/;

export const MAX_NAME_LENGTH = 255;

/** Digest algorithms we can compute, with their hex lengths. */
export const DIGEST_ALGORITHMS = { sha256: 64, sha384: 96, sha512: 128 } as const;
export type DigestAlgorithm = keyof typeof DIGEST_ALGORITHMS;

/** Whether `name` is one of DIGEST_ALGORITHMS: the one list every other module asks. */
export function isSupportedAlgorithm(name: string): name is DigestAlgorithm {
  return Object.prototype.hasOwnProperty.call(DIGEST_ALGORITHMS, name);
}

export interface Digest {
  algorithm: DigestAlgorithm;
  hex: string;
  /** `algorithm:hex` */
  value: string;
}

export function isValidName(name: string): boolean {
  return name.length > 0 && name.length <= MAX_NAME_LENGTH && NAME_RE.test(name);
}

export function isValidTag(tag: string): boolean {
  return TAG_RE.test(tag);
}

/** Throws NAME_INVALID unless `name` is a repository name. */
export function checkName(name: string): string {
  if (!isValidName(name))
    throw ociError(
      'NAME_INVALID',
      { name },
      name.length > MAX_NAME_LENGTH
        ? 'repository name must not be more than 255 characters'
        : 'invalid repository name',
    );
  return name;
}

/** Parses `algorithm:hex`; null when malformed or of an algorithm we cannot verify. */
export function parseDigest(s: string): Digest | null {
  const m = DIGEST_RE.exec(s);
  if (!m) return null;
  const algorithm = m[1];
  if (!isSupportedAlgorithm(algorithm)) return null;
  const len = DIGEST_ALGORITHMS[algorithm];
  const hex = m[2];
  if (hex.length !== len || !/^[a-f0-9]+$/.test(hex)) return null;
  return { algorithm, hex, value: s };
}

/** Throws DIGEST_INVALID (with Distribution's message, which it uses for malformed digests too) unless `s` is a supported digest. */
export function checkDigest(s: string): Digest {
  const d = parseDigest(s);
  if (!d) throw ociError('DIGEST_INVALID', { digest: s });
  return d;
}

/** A manifest reference is a tag or a digest; a string containing ':' must be a digest. */
export type Reference = { tag: string; digest?: undefined } | { digest: Digest; tag?: undefined };

export function parseReference(ref: string): Reference {
  if (ref.includes(':')) return { digest: checkDigest(ref) };
  if (!isValidTag(ref)) throw ociError('TAG_INVALID', { tag: ref });
  return { tag: ref };
}
