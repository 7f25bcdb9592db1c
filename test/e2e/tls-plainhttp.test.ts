/**
 * Plain HTTP sent to the HTTPS port: Distribution (Go's net/http) answers the five request starts it recognises
 * (`GET /`, `HEAD `, `POST `, `PUT /`, `OPTIO`) with `400 Client sent an HTTP request to an HTTPS server.` on the
 * raw connection and closes it; anything else that is not TLS is closed without a word. wharf answers byte for
 * byte the same (compared with docker-registry on the same certificate), while TLS on that port keeps working:
 * HTTP/1.1, HTTP/2 by ALPN, and curl shows the user the one-line reason.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DOCKER_REGISTRY_BIN, DOCKER_REGISTRY_MISSING } from './distribution.js';
import { freePort, httpsStatus, startWharf, type Wharf } from './harness.js';
import { onPath, run } from './skopeo.js';
import { makeTlsFixtures, OPENSSL, OPENSSL_MISSING, tlsConfig, writeHtpasswd, type TlsFixtures } from './tls-certs.js';

const CURL = onPath('curl');
const missing = !OPENSSL ? OPENSSL_MISSING : !CURL ? 'curl is not on PATH (apt-get install curl)' : false;

/** Sends `data` on a raw TCP connection and resolves with every byte received until the server closes it. */
function rawExchange(port: number, data: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const s = connect(port, '127.0.0.1', () => s.write(data));
    s.on('data', (c) => chunks.push(c));
    s.on('error', reject);
    s.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
    s.setTimeout(20_000, () => s.destroy(new Error(`no close from 127.0.0.1:${port} after ${JSON.stringify(data)}`)));
  });
}

const REQUESTS = [
  'GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\n',
  'HEAD /v2/ HTTP/1.1\r\nHost: x\r\n\r\n',
  'POST /v2/x/blobs/uploads/ HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n',
  'PUT /v2/x HTTP/1.1\r\nHost: x\r\n\r\n',
  'OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n',
  'DELETE /v2/x HTTP/1.1\r\nHost: x\r\n\r\n',
  'garbage\r\n\r\n',
];

describe('plain HTTP on the HTTPS port', { skip: missing }, () => {
  let fx: TlsFixtures;
  let work: string;
  let w: Wharf;

  before(async () => {
    fx = makeTlsFixtures();
    work = mkdtempSync(join(tmpdir(), 'wharf-e2e-plainhttp-'));
    const htpasswd = join(work, 'htpasswd');
    writeHtpasswd(htpasswd, 'alice', 'secret');
    w = await startWharf({ config: tlsConfig({ server: fx.server, htpasswd }), tls: { ca: fx.ca.cert } });
  });
  after(async () => {
    await w?.cleanup();
    fx?.remove();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  test("HTTP requests get Distribution's 400 and the connection closes; other bytes are closed silently", async () => {
    const answer = 'HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n';
    for (const req of REQUESTS.slice(0, 5)) assert.equal(await rawExchange(w.port, req), answer, req);
    for (const req of REQUESTS.slice(5)) assert.equal(await rawExchange(w.port, req), '', req);
    const r = await run(CURL!, ['-sS', '--max-time', '20', `http://127.0.0.1:${w.port}/v2/`]);
    assert.equal(r.stdout, 'Client sent an HTTP request to an HTTPS server.\n');
  });

  test('TLS on the same port still works: HTTP/1.1, HTTP/2 by ALPN, auth', async () => {
    assert.equal(await httpsStatus(`${w.url}/v2/`, { ca: fx.ca.cert }), 401);
    for (const [flag, version] of [
      ['--http2', '2'],
      ['--http1.1', '1.1'],
    ]) {
      const r = await run(CURL!, [
        '-sS',
        '--max-time',
        '20',
        flag,
        '--cacert',
        fx.ca.cert,
        '-u',
        'alice:secret',
        '-o',
        '/dev/null',
        '-w',
        '%{http_version} %{http_code}',
        `https://localhost:${w.port}/v2/`,
      ]);
      assert.equal(r.stdout, `${version} 200`, r.stderr);
    }
  });

  test(
    'byte for byte what docker-registry answers on the same certificate',
    { skip: DOCKER_REGISTRY_BIN ? false : DOCKER_REGISTRY_MISSING },
    async () => {
      const port = await freePort();
      const config = join(work, 'distribution.yml');
      writeFileSync(
        config,
        `version: 0.1\nlog:\n  level: error\nstorage:\n  inmemory: {}\nhttp:\n  addr: 127.0.0.1:${port}\n  tls:\n    certificate: ${fx.server.cert}\n    key: ${fx.server.key}\n`,
      );
      const env: NodeJS.ProcessEnv = {};
      for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('REGISTRY_')) env[k] = v;
      const proc = spawn(DOCKER_REGISTRY_BIN!, ['serve', config], { env, stdio: 'ignore' });
      try {
        const deadline = Date.now() + 15_000;
        while ((await httpsStatus(`https://127.0.0.1:${port}/v2/`, { ca: fx.ca.cert }).catch(() => 0)) !== 200) {
          assert.ok(Date.now() < deadline && proc.exitCode === null, 'docker-registry did not start');
          await new Promise((r) => setTimeout(r, 50));
        }
        for (const req of REQUESTS) assert.equal(await rawExchange(w.port, req), await rawExchange(port, req), req);
      } finally {
        proc.kill('SIGKILL');
      }
    },
  );
});
