/**
 * An 8-layer image copied by skopeo into a registry and back out, as a real client does it (several layers at
 * once): the phase that shows whether the server's memory stays flat whatever the layer sizes. The OCI layout is
 * written to disk once, layer by layer from a repeating random pattern, never held whole in memory.
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, renameSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { blobBytes } from './blobs.js';

export const SKOPEO = '/usr/bin/skopeo';

/** Writes an OCI layout with `layers` uncompressed layers of `layerBytes` each to `dir`, tagged `latest`. */
export function writeLayout(dir: string, layers: number, layerBytes: number): void {
  const blobs = join(dir, 'blobs/sha256');
  mkdirSync(blobs, { recursive: true });
  const put = (data: Buffer) => {
    const hex = createHash('sha256').update(data).digest('hex');
    writeFileSync(join(blobs, hex), data);
    return { digest: `sha256:${hex}`, size: data.length };
  };
  const layerDescs = [];
  for (let i = 0; i < layers; i++) {
    const tmp = join(blobs, `layer-${i}.tmp`);
    const fd = openSync(tmp, 'w');
    const h = createHash('sha256');
    for (const chunk of blobBytes({ size: layerBytes, pattern: randomBytes(1024 * 1024) })) {
      h.update(chunk);
      writeSync(fd, chunk);
    }
    closeSync(fd);
    const hex = h.digest('hex');
    renameSync(tmp, join(blobs, hex));
    layerDescs.push({ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: `sha256:${hex}`, size: layerBytes });
  }
  const config = put(
    Buffer.from(
      JSON.stringify({
        architecture: 'amd64',
        os: 'linux',
        rootfs: { type: 'layers', diff_ids: layerDescs.map((l) => l.digest) },
      }),
    ),
  );
  const manifest = put(
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
        layers: layerDescs,
      }),
    ),
  );
  writeFileSync(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  writeFileSync(
    join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          ...manifest,
          annotations: { 'org.opencontainers.image.ref.name': 'latest' },
        },
      ],
    }),
  );
}

function skopeo(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(SKOPEO, args, { timeout: 600_000, maxBuffer: 4 * 1024 * 1024 }, (err, _out, stderr) =>
      err ? reject(new Error(`skopeo ${args.join(' ')}: ${err.message}\n${stderr}`)) : resolve(),
    );
  });
}

/** Copies the layout into `host` (host:port) as `repo:latest`, then back out into `outDir`; returns seconds. */
export async function copyThrough(layout: string, host: string, repo: string, outDir: string): Promise<number> {
  const t0 = performance.now();
  const ref = `docker://${host}/${repo}:latest`;
  await skopeo(['copy', '--quiet', '--dest-tls-verify=false', `oci:${layout}:latest`, ref]);
  await skopeo(['copy', '--quiet', '--src-tls-verify=false', ref, `dir:${outDir}`]);
  return (performance.now() - t0) / 1000;
}
