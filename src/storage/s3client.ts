/** The S3 driver's options and the SDK client settings made from them, and what counts as not found. */
import type { ObjectCannedACL, S3ClientConfig, StorageClass } from '@aws-sdk/client-s3';
import type { S3Config } from '../config/schema.js';

/** Tuning that is no config key (the tests shorten it); the rest is `storage.s3` as the schema defaulted it. */
export interface S3Tuning {
  /** Presigned URL lifetime for redirects, ms. */
  redirectexpiry?: number;
}

export type S3Options = S3Config & S3Tuning;

/** A 404 of any kind (RGW answers ListParts of an unknown upload with NoSuchKey). */
export function isMissing(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number }; Code?: string };
  return (
    e?.name === 'NoSuchKey' ||
    e?.name === 'NotFound' ||
    e?.name === 'NoSuchUpload' ||
    e?.$metadata?.httpStatusCode === 404
  );
}

/** The SDK client's settings for `o`: endpoint, credentials, retries, timeouts, TLS verification, user agent. */
export function clientConfig(o: S3Options): S3ClientConfig {
  let endpoint = o.regionendpoint;
  if (endpoint && !/^https?:\/\//.test(endpoint)) endpoint = `${o.secure ? 'https' : 'http'}://${endpoint}`;
  const cfg: S3ClientConfig = {
    region: o.region,
    endpoint,
    forcePathStyle: o.forcepathstyle,
    maxAttempts: o.maxattempts,
    // Bounded waits: a dead endpoint fails each attempt within connectionTimeout, a stalled one after
    // requestTimeout of socket inactivity; after the retries the error is StorageUnavailableError (503).
    requestHandler: {
      connectionTimeout: o.connecttimeout,
      requestTimeout: o.requesttimeout,
      // skipverify: the endpoint's certificate is not checked (a self-signed test or in-house endpoint).
      ...(o.skipverify ? { httpsAgent: { rejectUnauthorized: false } } : {}),
    },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    customUserAgent: o.useragent,
  };
  // As in Distribution, the AWS endpoint variants apply to AWS's own endpoints: with regionendpoint they are
  // ignored (the SDK would refuse the combination; warnings.ts says so at start).
  if (!endpoint) {
    if (o.usedualstack) cfg.useDualstackEndpoint = true;
    if (o.accelerate) cfg.useAccelerateEndpoint = true;
  }
  if (o.accesskey && o.secretkey)
    cfg.credentials = { accessKeyId: o.accesskey, secretAccessKey: o.secretkey, sessionToken: o.sessiontoken };
  return cfg;
}

/** What every object write carries: storage class, canned ACL, server-side encryption. */
export function objectParams(o: S3Options): {
  StorageClass?: StorageClass;
  ACL?: ObjectCannedACL;
  ServerSideEncryption?: 'AES256' | 'aws:kms';
  SSEKMSKeyId?: string;
} {
  return {
    StorageClass: o.storageclass !== 'NONE' ? (o.storageclass as StorageClass) : undefined,
    // Distribution's objectacl (default "private") is sent only when configured: buckets with ACLs disabled (AWS's
    // default since 2023) refuse any other, and an absent ACL is private.
    ...(o.objectacl !== undefined ? { ACL: o.objectacl as ObjectCannedACL } : {}),
    ...(o.encrypt
      ? o.keyid
        ? { ServerSideEncryption: 'aws:kms' as const, SSEKMSKeyId: o.keyid }
        : { ServerSideEncryption: 'AES256' as const }
      : {}),
  };
}
