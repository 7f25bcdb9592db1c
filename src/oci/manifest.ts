/**
 * Manifest parsing and structural validation (no storage access): Docker schema 2, Docker manifest list,
 * OCI image manifest, OCI index, and OCI 1.1 artifacts. Schema 1 is refused, as in Distribution v3.
 */
import { z } from 'zod';
import { ociError } from './errors.js';
import { MT } from './mediatypes.js';
import { MAX_JSON_DEPTH, nestsDeeperThan } from './json.js';
import { parseDigest } from './names.js';

const digestString = z.string().refine((s) => parseDigest(s) !== null, { message: 'invalid digest' });

const platform = z
  .object({
    architecture: z.string(),
    os: z.string(),
    'os.version': z.string().optional(),
    'os.features': z.array(z.string()).optional(),
    variant: z.string().optional(),
    features: z.array(z.string()).optional(),
  })
  .passthrough();

export const descriptor = z
  .object({
    mediaType: z.string().min(1),
    digest: digestString,
    // A safe integer: 1e30 or 2^70 written out are integers to JSON.parse, but not sizes anything can hold.
    size: z
      .number()
      .refine((n) => Number.isSafeInteger(n) && n >= 0, { message: 'size must be a non-negative integer below 2^53' }),
    urls: z.array(z.string()).optional(),
    annotations: z.record(z.string()).optional(),
    artifactType: z.string().optional(),
    platform: platform.optional(),
  })
  .passthrough();

export type Descriptor = z.infer<typeof descriptor>;

const imageManifest = z
  .object({
    schemaVersion: z.literal(2),
    mediaType: z.string().optional(),
    artifactType: z.string().optional(),
    config: descriptor,
    layers: z.array(descriptor),
    subject: descriptor.optional(),
    annotations: z.record(z.string()).optional(),
  })
  .passthrough();

const imageIndex = z
  .object({
    schemaVersion: z.literal(2),
    mediaType: z.string().optional(),
    artifactType: z.string().optional(),
    manifests: z.array(descriptor),
    subject: descriptor.optional(),
    annotations: z.record(z.string()).optional(),
  })
  .passthrough();

export type ImageManifest = z.infer<typeof imageManifest>;
export type ImageIndex = z.infer<typeof imageIndex>;

export type ParsedManifest =
  { kind: 'image'; mediaType: string; body: ImageManifest } | { kind: 'index'; mediaType: string; body: ImageIndex };

function baseMediaType(contentType: string | undefined): string {
  if (!contentType) return '';
  return contentType.split(';')[0].trim().toLowerCase();
}

function invalid(message: string, detail?: unknown): never {
  throw ociError('MANIFEST_INVALID', detail ?? message);
}

/**
 * Parses manifest bytes sent with `contentType`. The media type comes from Content-Type; when that is absent or
 * generic JSON, from the body's `mediaType`, else from the body's shape. A body `mediaType` that disagrees with
 * Content-Type is refused.
 */
export function parseManifest(bytes: Buffer, contentType: string | undefined): ParsedManifest {
  if (nestsDeeperThan(bytes, MAX_JSON_DEPTH)) invalid(`manifest nests deeper than ${MAX_JSON_DEPTH} levels`);
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch (e) {
    invalid('manifest is not valid JSON', { reason: (e as Error).message });
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) invalid('manifest must be a JSON object');
  const obj = json as Record<string, unknown>;
  const ct = baseMediaType(contentType);
  const bodyType = typeof obj.mediaType === 'string' ? obj.mediaType : undefined;

  if (
    ct === MT.dockerSchema1 ||
    ct === MT.dockerSchema1Signed ||
    bodyType === MT.dockerSchema1 ||
    bodyType === MT.dockerSchema1Signed ||
    obj.schemaVersion === 1
  ) {
    invalid('schema 1 manifests are not supported; push a schema 2 or OCI manifest');
  }

  let mediaType = ct;
  if (ct === '' || ct === 'application/json') {
    mediaType = bodyType ?? (Array.isArray(obj.manifests) ? MT.ociIndex : MT.ociManifest);
  }
  if (bodyType !== undefined && bodyType !== mediaType) {
    invalid(`mediaType in manifest should be '${mediaType}' not '${bodyType}'`);
  }

  switch (mediaType) {
    case MT.dockerManifest:
    case MT.ociManifest: {
      if (mediaType === MT.dockerManifest && bodyType !== MT.dockerManifest)
        invalid(`mediaType in manifest should be '${MT.dockerManifest}' not '${bodyType ?? ''}'`);
      if ('manifests' in obj) invalid('an image manifest must not have a manifests member');
      const r = imageManifest.safeParse(obj);
      if (!r.success) invalid(describeZod(r.error));
      if (mediaType === MT.dockerManifest && (r.data.subject || r.data.artifactType))
        invalid('subject and artifactType are only allowed in OCI manifests');
      return { kind: 'image', mediaType, body: r.data };
    }
    case MT.dockerList:
    case MT.ociIndex: {
      if (mediaType === MT.dockerList && bodyType !== MT.dockerList)
        invalid(`mediaType in manifest list should be '${MT.dockerList}' not '${bodyType ?? ''}'`);
      if ('config' in obj || 'layers' in obj) invalid('an index must not have config or layers members');
      const r = imageIndex.safeParse(obj);
      if (!r.success) invalid(describeZod(r.error));
      return { kind: 'index', mediaType, body: r.data };
    }
    default:
      invalid(`unsupported manifest media type: ${mediaType}`);
  }
}

function describeZod(err: z.ZodError): string {
  return err.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
}

/** The descriptors whose blobs must exist in the repository for the manifest to be accepted. */
export function referencedBlobs(m: ParsedManifest): Descriptor[] {
  if (m.kind !== 'image') return [];
  // Non-distributable ("foreign") layers carry urls and are fetched elsewhere.
  return [m.body.config, ...m.body.layers.filter((l) => !(l.urls && l.urls.length > 0))];
}

/** The artifact type reported by the referrers API. */
export function artifactTypeOf(m: ParsedManifest): string | undefined {
  if (m.body.artifactType) return m.body.artifactType;
  if (m.kind === 'image') return m.body.config.mediaType;
  return undefined;
}
