/**
 * The in-process fixture of the HTTP tests: the real pipeline (`startRegistry`: config -> storage -> registry ->
 * auth -> handler) over the in-memory driver, listening on 127.0.0.1:0 inside the test process, and a raw HTTP
 * client that sends exactly the headers it is given (fetch would add `Accept: *\/*`, which Accept negotiation
 * tests must control). Named *.test.ts so that it is built and run with the tests; its own test checks itself.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { request, type IncomingHttpHeaders } from 'node:http';
import { Writable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { test } from 'node:test';
import YAML from 'yaml';
import { startRegistry, type RunningRegistry } from '../app.js';
import { parseConfig } from '../config/load.js';
import { createLogger } from '../log.js';

export const MT = {
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociEmpty: 'application/vnd.oci.empty.v1+json',
} as const;

export const sha256 = (b: Buffer | string): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

export interface Response {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  text: string;
  /** The body parsed as JSON (throws when it is not JSON). */
  // The tests read the bodies ad hoc (r.json().errors[0].code): a type per call would say nothing more.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  json(): any;
}

export interface RequestOptions {
  /** An array sends the header once per value. */
  headers?: Record<string, string | number | string[]>;
  body?: Buffer | string | AsyncIterable<Buffer>;
}

export interface TestRegistry {
  /** `http://127.0.0.1:<port>` */
  base: string;
  /** http.prefix without its trailing slash ("" for "/"): the helpers below put it before `/v2/`. */
  prefix: string;
  running: RunningRegistry;
  /** Every log line the registry wrote (JSON). */
  logs: string[];
  req(method: string, path: string, opts?: RequestOptions): Promise<Response>;
  close(): Promise<void>;
}

type Tree = Record<string, unknown>;

function isTree(v: unknown): v is Tree {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Deep merge of plain objects; an `undefined` value removes the key (e.g. `storage.inmemory` for another driver). */
function merge(into: Tree, from: Tree): Tree {
  for (const [k, v] of Object.entries(from)) {
    if (v === undefined) delete into[k];
    else into[k] = isTree(v) && isTree(into[k]) ? merge({ ...(into[k] as Tree) }, v) : v;
  }
  return into;
}

/**
 * Starts wharf in this process. `overrides` is merged into a config of: inmemory storage with delete enabled,
 * no upload purging, no access log, no UI, a fixed http.secret, 127.0.0.1:0.
 */
export async function startTestRegistry(overrides: Tree = {}): Promise<TestRegistry> {
  const tree = merge(
    {
      version: '0.1',
      log: { level: 'warn', formatter: 'json', accesslog: { disabled: true } },
      storage: { inmemory: {}, delete: { enabled: true }, maintenance: { uploadpurging: { enabled: false } } },
      http: { addr: '127.0.0.1:0', secret: 'in-process-test-secret' },
      ui: { enabled: false },
    },
    overrides,
  );
  const { config } = parseConfig(YAML.stringify(tree), 'in-process test');
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      logs.push(
        ...String(chunk)
          .split('\n')
          .filter((l) => l !== ''),
      );
      done();
    },
  });
  const log = createLogger({ level: config.log.level, formatter: 'json', destination: sink });
  const running = await startRegistry(config, log);
  const base = `http://${running.address}`;
  return {
    base,
    prefix: config.http.prefix.replace(/\/$/, ''),
    running,
    logs,
    req: (method, path, opts) => send(base, method, path, opts),
    close: () => running.shutdown(0),
  };
}

/** One request on a fresh connection, with exactly the given headers (Node adds Host, and Content-Length for a Buffer body). */
export function send(base: string, method: string, path: string, opts: RequestOptions = {}): Promise<Response> {
  const url = new URL(path, base);
  const headers: Record<string, string | number | string[]> = { ...(opts.headers ?? {}) };
  const body = opts.body;
  const fixed = typeof body === 'string' ? Buffer.from(body) : Buffer.isBuffer(body) ? body : undefined;
  if (fixed && !Object.keys(headers).some((h) => h.toLowerCase() === 'content-length'))
    headers['Content-Length'] = fixed.length;
  return new Promise((resolve, reject) => {
    const r = request(
      { host: url.hostname, port: url.port, method, path: `${url.pathname}${url.search}`, headers, agent: false },
      (res) => {
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => parts.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const buf = Buffer.concat(parts);
          const text = buf.toString('utf8');
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: buf, text, json: () => JSON.parse(text) });
        });
      },
    );
    r.on('error', reject);
    if (fixed) r.end(fixed);
    else if (body) {
      (async () => {
        for await (const chunk of body as AsyncIterable<Buffer>) r.write(chunk);
        r.end();
      })().catch(reject);
    } else r.end();
  });
}

/** Uploads `data` into `repo` with a single POST `?digest=`; returns its digest. */
export async function pushBlob(reg: TestRegistry, repo: string, data: Buffer | string): Promise<string> {
  const digest = sha256(data);
  const r = await reg.req('POST', `${reg.prefix}/v2/${repo}/blobs/uploads/?digest=${digest}`, {
    body: data,
    headers: { 'Content-Type': 'application/octet-stream' },
  });
  assert.equal(r.status, 201, r.text);
  return digest;
}

export interface Pushed {
  digest: string;
  bytes: Buffer;
  mediaType: string;
}

/** PUTs `manifest` (serialised as given) under `reference`; asserts 201. */
export async function pushManifest(
  reg: TestRegistry,
  repo: string,
  reference: string,
  manifest: unknown,
  mediaType: string,
): Promise<Pushed> {
  const bytes = Buffer.from(typeof manifest === 'string' ? manifest : JSON.stringify(manifest));
  const r = await reg.req('PUT', `${reg.prefix}/v2/${repo}/manifests/${reference}`, {
    body: bytes,
    headers: { 'Content-Type': mediaType },
  });
  assert.equal(r.status, 201, r.text);
  return { digest: sha256(bytes), bytes, mediaType };
}

/** A config and one layer in `repo`, and an image manifest of `mediaType` (Docker schema 2 or OCI) referencing them, tagged `tag`. */
export async function pushImage(
  reg: TestRegistry,
  repo: string,
  tag: string,
  mediaType: string = MT.ociManifest,
  extra: Tree = {},
): Promise<Pushed> {
  const docker = mediaType === MT.dockerManifest;
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', tag }));
  const layer = Buffer.from(`layer of ${repo}:${tag}`);
  const m = {
    schemaVersion: 2,
    mediaType,
    config: {
      mediaType: docker ? MT.dockerConfig : MT.ociConfig,
      digest: await pushBlob(reg, repo, config),
      size: config.length,
    },
    layers: [
      {
        mediaType: docker ? MT.dockerLayer : MT.ociLayer,
        digest: await pushBlob(reg, repo, layer),
        size: layer.length,
      },
    ],
    ...extra,
  };
  return pushManifest(reg, repo, tag, m, mediaType);
}

/** An index (OCI or Docker list) of already pushed manifests, each declared linux/amd64 unless `platforms` says otherwise. */
export function indexOf(
  mediaType: string,
  children: Pushed[],
  platforms: Array<{ architecture: string; os: string }> = [],
): Tree {
  return {
    schemaVersion: 2,
    mediaType,
    manifests: children.map((c, i) => ({
      mediaType: c.mediaType,
      digest: c.digest,
      size: c.bytes.length,
      platform: platforms[i] ?? { architecture: 'amd64', os: 'linux' },
    })),
  };
}

/** The one error of an OCI error body. */
export function oneError(r: Response): { code: string; message: string; detail?: unknown } {
  assert.match(String(r.headers['content-type']), /^application\/json/, `status ${r.status}: ${r.text}`);
  const body = r.json() as { errors: Array<{ code: string; message: string; detail?: unknown }> };
  assert.equal(body.errors.length, 1, r.text);
  return body.errors[0];
}

// Checked when this file is run itself, not again by every test file that imports it.
const runDirectly = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;

if (runDirectly)
  test('the fixture serves the real pipeline in process on a free loopback port', async () => {
    const reg = await startTestRegistry();
    try {
      assert.match(reg.base, /^http:\/\/127\.0\.0\.1:\d+$/);
      assert.notEqual(reg.base, 'http://127.0.0.1:0');
      const r = await reg.req('GET', '/v2/');
      assert.equal(r.status, 200);
      assert.equal(r.headers['docker-distribution-api-version'], 'registry/2.0');
      const digest = await pushBlob(reg, 'fixture/check', 'x');
      assert.equal((await reg.req('HEAD', `/v2/fixture/check/blobs/${digest}`)).status, 200);
    } finally {
      await reg.close();
    }
  });
