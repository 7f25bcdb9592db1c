/**
 * Helpers for the pull-through cache tests: a counting HTTP proxy to put in front of an upstream (it counts every
 * request and can be switched off to play an outage), skopeo pushes of test-built OCI layouts, and a wharf mirror.
 * Everything listens on 127.0.0.1; nothing leaves the machine.
 */
import { createHash } from 'node:crypto';
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { startWharf, testConfig, type Wharf } from './harness.js';
import { copy } from './skopeo.js';

export interface CountingProxy {
  url: string;
  host: string;
  /** Every request forwarded so far, as `METHOD /path` (query dropped). */
  requests: string[];
  count(re: RegExp): number;
  /** 'up' forwards; 'down' resets every connection (a dead upstream); 'error' answers 503. */
  mode: 'up' | 'down' | 'error';
  /** While set, blob responses send their headers and then wait for it before their body. */
  hold: Promise<void> | null;
  /** While set, blob bodies are sent at about this many bytes per second (a slow upstream). */
  rate: number | null;
  close(): Promise<void>;
}

/** An HTTP server that forwards everything to `target` (an `http://host:port` origin), counting requests. */
export async function countingProxy(target: string): Promise<CountingProxy> {
  const t = new URL(target);
  const sockets = new Set<Socket>();
  const p: CountingProxy = {
    url: '',
    host: '',
    requests: [],
    count: (re) => p.requests.filter((r) => re.test(r)).length,
    mode: 'up',
    hold: null,
    rate: null,
    close: async () => {},
  };
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (p.mode === 'down') {
      req.socket.destroy();
      return;
    }
    if (p.mode === 'error') {
      res.writeHead(503, { 'Content-Type': 'text/plain' }).end('upstream is down for the test\n');
      return;
    }
    p.requests.push(`${req.method} ${(req.url ?? '/').split('?')[0]}`);
    const blob = /\/blobs\//.test(req.url ?? '');
    const hold = blob ? p.hold : null;
    const rate = blob ? p.rate : null;
    const up = request(
      { host: t.hostname, port: t.port, method: req.method, path: req.url, headers: { ...req.headers, host: t.host } },
      (ur) => {
        res.writeHead(ur.statusCode ?? 502, ur.headers);
        res.flushHeaders();
        const send = () => (rate ? void trickle(ur, res, rate) : ur.pipe(res));
        if (hold) void hold.then(send);
        else send();
      },
    );
    up.once('error', () => res.destroy());
    req.pipe(up);
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  p.url = `http://127.0.0.1:${port}`;
  p.host = `127.0.0.1:${port}`;
  p.close = () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    });
  return p;
}

/** Copies `from` to `to` at about `rate` bytes per second. */
async function trickle(from: IncomingMessage, to: ServerResponse, rate: number): Promise<void> {
  try {
    for await (const chunk of from as AsyncIterable<Buffer>) {
      if (!to.write(chunk)) await new Promise((r) => to.once('drain', r));
      await new Promise((r) => setTimeout(r, (chunk.length / rate) * 1000));
    }
    to.end();
  } catch {
    to.destroy();
  }
}

/** `skopeo copy` of `oci:<layout>:<tag>` to `docker://<host>/<repo>:<tag>` (all platforms), with optional credentials. */
export async function pushLayout(
  layoutDir: string,
  tag: string,
  host: string,
  repo: string,
  creds?: string,
): Promise<void> {
  await copy(
    `oci:${layoutDir}:${tag}`,
    `docker://${host}/${repo}:${tag}`,
    '--all',
    ...(creds ? ['--dest-creds', creds] : []),
  );
}

/** Starts a wharf whose config has `proxyYaml` (the whole `proxy:` section, or anything top-level). */
export function startMirror(
  proxyYaml: string,
  more: { logLevel?: string; storage?: string; http?: string; extra?: string } = {},
): Promise<Wharf> {
  return startWharf({
    config: testConfig({
      logLevel: more.logLevel ?? 'warn',
      storage: more.storage,
      http: more.http,
      extra: `${proxyYaml}${more.extra ?? ''}`,
    }),
  });
}

/** The `http:` lines of a debug server with Prometheus metrics on `port`. */
export const debugHttp = (port: number): string =>
  `  debug:\n    addr: 127.0.0.1:${port}\n    prometheus:\n      enabled: true\n`;

/** Pushes one OCI image (config + one layer of `layer` bytes) straight over the API; returns its digests. */
export async function pushImage(
  url: string,
  repo: string,
  tag: string,
  layer: Buffer,
  seed = 'x',
): Promise<{ manifest: string; layer: string; config: string; bytes: Buffer }> {
  const config = Buffer.from(
    JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, seed }),
  );
  for (const blob of [config, layer]) {
    const r = await fetch(`${url}/v2/${repo}/blobs/uploads/?digest=${sha256(blob)}`, {
      method: 'POST',
      body: new Uint8Array(blob),
      headers: { 'Content-Type': 'application/octet-stream' },
    });
    await r.arrayBuffer();
    if (r.status !== 201) throw new Error(`blob push to ${url} failed: ${r.status}`);
  }
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha256(layer), size: layer.length }],
  });
  const r = await fetch(`${url}/v2/${repo}/manifests/${tag}`, {
    method: 'PUT',
    body: manifest,
    headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' },
  });
  await r.arrayBuffer();
  if (r.status !== 201) throw new Error(`manifest push to ${url} failed: ${r.status}`);
  return { manifest: sha256(manifest), layer: sha256(layer), config: sha256(config), bytes: layer };
}

export function sha256(data: Buffer | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** GET with the manifest media types a modern client accepts. */
export async function getManifest(
  url: string,
  repo: string,
  ref: string,
  method = 'GET',
): Promise<{ status: number; digest: string | null; type: string | null; body: Buffer }> {
  const r = await fetch(`${url}/v2/${repo}/manifests/${ref}`, {
    method,
    headers: {
      Accept:
        'application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json',
    },
  });
  const body = Buffer.from(await r.arrayBuffer());
  return {
    status: r.status,
    digest: r.headers.get('docker-content-digest'),
    type: r.headers.get('content-type'),
    body,
  };
}
