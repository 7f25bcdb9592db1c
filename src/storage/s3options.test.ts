/**
 * `storage.s3` keys that reach the SDK client: objectacl, useragent and skipverify against a real S3 server (Ceph
 * RGW; skipverify through a TLS terminator whose certificate the client cannot verify), usedualstack and accelerate
 * by the endpoint they select (AWS's, so checked on a presigned URL, without network).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { connect, type AddressInfo } from 'node:net';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { CreateBucketCommand, GetObjectAclCommand } from '@aws-sdk/client-s3';
import { s3Unavailable, startS3, type S3Server } from '../../test/e2e/s3server.js';
import { makeTlsFixtures, OPENSSL, OPENSSL_MISSING, type TlsFixtures } from '../../test/e2e/tls-certs.js';
import { s3Schema } from '../config/schema.js';
import { S3Driver } from './s3.js';

describe('usedualstack and accelerate select the AWS endpoint variants', () => {
  const base = { bucket: 'wharf-bucket', region: 'us-east-1', accesskey: 'AK', secretkey: 'SK' };
  const hostOf = async (extra: Record<string, unknown>) => {
    const d = new S3Driver(s3Schema.parse({ ...base, ...extra }));
    try {
      return new URL((await d.redirectURL('GET', '/x'))!).host;
    } finally {
      await d.close();
    }
  };

  it('default, dual-stack, accelerated', async () => {
    assert.equal(await hostOf({}), 'wharf-bucket.s3.us-east-1.amazonaws.com');
    assert.equal(await hostOf({ usedualstack: true }), 'wharf-bucket.s3.dualstack.us-east-1.amazonaws.com');
    assert.equal(await hostOf({ accelerate: true }), 'wharf-bucket.s3-accelerate.amazonaws.com');
  });

  it('are ignored with regionendpoint, as in Distribution', async () => {
    assert.equal(
      await hostOf({
        regionendpoint: 'http://127.0.0.1:9',
        forcepathstyle: true,
        usedualstack: true,
        accelerate: true,
      }),
      '127.0.0.1:9',
    );
  });
});

const reason = s3Unavailable() ?? (OPENSSL ? null : OPENSSL_MISSING);

if (reason) {
  it('storage.s3 keys against a real S3 server', { skip: reason }, () => {});
} else {
  let server: S3Server;
  let certs: TlsFixtures;
  let tls: TlsServer;
  const userAgents: string[] = [];
  const bucket = `opts-${randomBytes(4).toString('hex')}`;
  const driver = (extra: Record<string, unknown> = {}, endpoint = server.endpoint) =>
    new S3Driver({
      ...s3Schema.parse({
        bucket,
        region: server.region,
        regionendpoint: endpoint,
        accesskey: server.accessKey,
        secretkey: server.secretKey,
        forcepathstyle: true,
        rootdirectory: `t-${randomBytes(4).toString('hex')}`,
        ...extra,
      }),
      maxattempts: 1,
    });

  before(async () => {
    server = await startS3();
    const d = driver();
    await d.client.send(new CreateBucketCommand({ Bucket: bucket }));
    await d.close();
    // A TLS terminator in front of the server (certificate from a CA the client does not trust) that notes the
    // User-Agent of each request it passes on.
    certs = makeTlsFixtures();
    const upstream = new URL(server.endpoint);
    tls = createTlsServer({ cert: readFileSync(certs.server.cert), key: readFileSync(certs.server.key) }, (socket) => {
      const up = connect(Number(upstream.port), upstream.hostname);
      socket.on('data', (chunk: Buffer) => {
        const m = /\r\nuser-agent: ([^\r\n]*)/i.exec(chunk.toString('latin1'));
        if (m) userAgents.push(m[1]);
      });
      socket.pipe(up).pipe(socket);
      socket.on('error', () => up.destroy());
      up.on('error', () => socket.destroy());
    });
    await new Promise<void>((resolve) => tls.listen(0, '127.0.0.1', resolve));
  });
  after(async () => {
    tls?.close();
    certs?.remove();
    await server?.stop();
  });

  const tlsEndpoint = () => `https://127.0.0.1:${(tls.address() as AddressInfo).port}`;
  const grantsOf = async (d: S3Driver, key: string) => {
    const acl = await d.client.send(new GetObjectAclCommand({ Bucket: bucket, Key: key }));
    return (acl.Grants ?? []).map((g) => `${g.Grantee?.URI ?? g.Grantee?.ID}:${g.Permission}`);
  };
  const publicRead = (grants: string[]) => grants.includes('http://acs.amazonaws.com/groups/global/AllUsers:READ');

  it('objectacl is set on every object written: put, and a moved (assembled) upload', async () => {
    const d = driver({ objectacl: 'public-read', rootdirectory: 'acl' });
    try {
      await d.putContent('/put', Buffer.from('x'));
      await d.append(
        '/up',
        (async function* () {
          yield Buffer.from('abc');
        })(),
      );
      await d.append(
        '/up',
        (async function* () {
          yield Buffer.from('def');
        })(),
      );
      await d.move('/up', '/moved');
      assert.ok(publicRead(await grantsOf(d, 'acl/put')), 'put');
      assert.ok(publicRead(await grantsOf(d, 'acl/moved')), 'moved');
      assert.equal((await d.getContent('/moved')).toString(), 'abcdef');
    } finally {
      await d.close();
    }
  });

  it('without objectacl an object stays private', async () => {
    const d = driver({ rootdirectory: 'noacl' });
    try {
      await d.putContent('/put', Buffer.from('x'));
      assert.ok(!publicRead(await grantsOf(d, 'noacl/put')));
    } finally {
      await d.close();
    }
  });

  it('an endpoint whose certificate cannot be verified is refused, unless skipverify', async () => {
    const strict = driver({}, tlsEndpoint());
    try {
      await assert.rejects(strict.putContent('/x', Buffer.from('x')));
    } finally {
      await strict.close();
    }
    const lax = driver({ skipverify: true }, tlsEndpoint());
    try {
      await lax.putContent('/x', Buffer.from('over tls'));
      assert.equal((await lax.getContent('/x')).toString(), 'over tls');
    } finally {
      await lax.close();
    }
  });

  it('useragent is sent with every request', async () => {
    userAgents.length = 0;
    const d = driver({ skipverify: true, useragent: 'wharf-test/1.0' }, tlsEndpoint());
    try {
      await d.putContent('/ua', Buffer.from('x'));
      await d.getContent('/ua');
    } finally {
      await d.close();
    }
    assert.ok(userAgents.length >= 2, `requests seen: ${userAgents.length}`);
    for (const ua of userAgents) assert.match(ua, /wharf-test\/1\.0/);
  });
}
