#!/usr/bin/env node
/**
 * The container's HEALTHCHECK (and anyone's liveness script): `node dist/src/cli/healthcheck.js [config.yml]`
 * asks the running server's readiness probe, GET /readyz, and exits 0 when it answers 200, else 1 with the reason
 * on stderr. It reads the same configuration the server does (resolveConfigPath, REGISTRY_* overrides included)
 * to find the address: the debug server when `http.debug.addr` is set (plain HTTP, no client certificate needed),
 * else `http.addr` over HTTP, or HTTPS without verifying the certificate when `http.tls` is set (this checks that
 * the server answers, not who it is). A standalone script rather than a subcommand, so it loads only the config
 * modules and not the registry.
 */
import { request as httpRequest, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { loadConfig } from '../config/load.js';
import { resolveConfigPath } from '../config/path.js';

const TIMEOUT_MS = 5000;

/** `host:port`, `:port`, `[::1]:port` -> where to connect; a wildcard or empty host means this machine. */
function target(addr: string): { host: string; port: number } {
  const i = addr.lastIndexOf(':');
  const host = i > 0 ? addr.slice(0, i).replace(/^\[|\]$/g, '') : '';
  const port = Number(addr.slice(i + 1));
  if (!Number.isInteger(port) || port <= 0 || port > 65535)
    throw new Error(`cannot probe address ${JSON.stringify(addr)}`);
  return { host: host === '' || host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host, port };
}

function probe(): Promise<string> {
  const { config } = loadConfig({ path: resolveConfigPath(process.argv[2]) });
  const debugAddr = config.http.debug?.addr;
  const tls = !debugAddr && config.http.tls !== undefined;
  let opts: RequestOptions;
  if (!debugAddr && config.http.net === 'unix') opts = { socketPath: config.http.addr };
  else opts = target(debugAddr ?? config.http.addr);
  const send = tls ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(
      { ...opts, path: '/readyz', method: 'GET', agent: false, rejectUnauthorized: false, timeout: TIMEOUT_MS },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.once('end', () =>
          res.statusCode === 200
            ? resolve(body.trim())
            : reject(new Error(`/readyz answered ${res.statusCode}: ${body.trim()}`)),
        );
      },
    );
    req.once('timeout', () => req.destroy(new Error(`/readyz did not answer within ${TIMEOUT_MS} ms`)));
    req.once('error', reject);
    req.end();
  });
}

probe().then(
  (body) => {
    process.stdout.write(`${body}\n`);
  },
  (err: Error) => {
    process.stderr.write(`wharf healthcheck: ${err.message}\n`);
    process.exitCode = 1;
  },
);
