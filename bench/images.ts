/** Many small image pushes: each a config blob, one small layer and a tagged manifest, a few at a time. */
import { createHash, randomBytes } from 'node:crypto';
import type { Agent } from 'node:http';
import { absolute, expectStatus, send, withParam } from './http.js';

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip';

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** POST a session then PUT ?digest= with the body: how docker and containerd push small blobs. */
export async function pushSmallBlob(agent: Agent, base: string, repo: string, data: Buffer): Promise<string> {
  const digest = sha256(data);
  const r1 = await send(agent, 'POST', `${base}/v2/${repo}/blobs/uploads/`, { 'Content-Length': 0 }, undefined, 30_000);
  expectStatus(r1, 202, 'POST upload');
  const r2 = await send(
    agent,
    'PUT',
    withParam(absolute(base, r1.headers.location), 'digest', digest),
    { 'Content-Type': 'application/octet-stream', 'Content-Length': data.length },
    data,
    30_000,
  );
  expectStatus(r2, 201, 'PUT blob');
  return digest;
}

/** Pushes one image and tags it; returns the manifest digest and the config blob digest. */
export async function pushImage(
  agent: Agent,
  base: string,
  repo: string,
  tag: string,
): Promise<{ manifest: string; config: string }> {
  const configBytes = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      rootfs: { type: 'layers', diff_ids: [] },
      seed: randomBytes(8).toString('hex'),
    }),
  );
  const layerBytes = randomBytes(4096);
  const config = await pushSmallBlob(agent, base, repo, configBytes);
  const layer = await pushSmallBlob(agent, base, repo, layerBytes);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: OCI_CONFIG, digest: config, size: configBytes.length },
      layers: [{ mediaType: OCI_LAYER, digest: layer, size: layerBytes.length }],
    }),
  );
  const r = await send(
    agent,
    'PUT',
    `${base}/v2/${repo}/manifests/${tag}`,
    { 'Content-Type': OCI_MANIFEST, 'Content-Length': manifest.length },
    manifest,
    30_000,
  );
  expectStatus(r, 201, 'PUT manifest');
  return { manifest: sha256(manifest), config };
}

/**
 * Pushes `count` images, `concurrency` at a time, each to its own tag in one of 8 new repositories
 * (`<prefix>-0` ... `<prefix>-7`). Returns images/s.
 */
export async function pushMany(
  agent: Agent,
  base: string,
  count: number,
  concurrency: number,
  deadlineMs: number,
  prefix = 'bench/small',
): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  const deadline = Date.now() + deadlineMs;
  const lane = async () => {
    while (next < count) {
      if (Date.now() > deadline) throw new Error(`small pushes did not finish within ${deadlineMs} ms`);
      const i = next++;
      await pushImage(agent, base, `${prefix}-${i % 8}`, `t${i}`);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
  return count / ((performance.now() - t0) / 1000);
}
