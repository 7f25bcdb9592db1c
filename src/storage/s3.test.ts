/** The shared driver suite on a real S3 server (Ceph RADOS Gateway), plus the S3-specific part planner. */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { CreateBucketCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { s3Unavailable, startS3, type S3Server } from '../../test/e2e/s3server.js';
import { s3Schema } from '../config/schema.js';
import { S3Driver } from './s3.js';
import { planParts } from './s3parts.js';
import { runDriverSuite } from './suite.js';

const MiB = 1024 * 1024;

describe('planParts', () => {
  it('copies large segments server-side and keeps every part but the last at 5 MiB or more', () => {
    const jobs = planParts(
      [
        { key: 'a', size: 40 * MiB },
        { key: 'b', size: 1 * MiB },
        { key: 'c', size: 2 * MiB },
        { key: 'd', size: 16 * MiB },
        { key: 'e', size: 3 * MiB },
      ],
      16 * MiB,
    );
    const sizes = jobs.map((j) =>
      j.kind === 'copy' ? j.end - j.start : j.pieces.reduce((n, p) => n + p.end - p.start, 0),
    );
    assert.equal(
      sizes.reduce((a, b) => a + b, 0),
      62 * MiB,
      'every byte exactly once',
    );
    sizes.slice(0, -1).forEach((s, i) => assert.ok(s >= 5 * MiB, `part ${i + 1} is ${s} bytes`));
    assert.equal(jobs[0].kind, 'copy');
    // b (1 MiB) and c (2 MiB) are topped up with the first 2 MiB of d, uploaded through wharf.
    const mixed = jobs.find((j) => j.kind === 'upload');
    assert.ok(mixed && mixed.kind === 'upload');
    assert.deepEqual(
      mixed.pieces.map((p) => p.key),
      ['b', 'c', 'd'],
    );
  });

  it('a single small segment is one part', () => {
    assert.deepEqual(planParts([{ key: 'x', size: 10 }], 32 * MiB), [{ kind: 'copy', key: 'x', start: 0, end: 10 }]);
  });
});

const reason = s3Unavailable();
let server: S3Server | undefined;
const bucket = `suite-${randomBytes(4).toString('hex')}`;

if (reason) {
  it('s3 driver suite', { skip: reason }, () => {});
} else {
  before(async () => {
    server = await startS3();
    const d = new S3Driver(
      s3Schema.parse({
        bucket,
        region: server.region,
        regionendpoint: server.endpoint,
        accesskey: server.accessKey,
        secretkey: server.secretKey,
        forcepathstyle: true,
      }),
    );
    await d.client.send(new CreateBucketCommand({ Bucket: bucket }));
    await d.close();
  });
  after(async () => {
    await server?.stop();
  });

  runDriverSuite({
    name: 's3',
    newDriver: async () => {
      const root = `suite/${randomBytes(6).toString('hex')}`;
      const driver = new S3Driver(
        s3Schema.parse({
          bucket,
          region: server!.region,
          regionendpoint: server!.endpoint,
          accesskey: server!.accessKey,
          secretkey: server!.secretKey,
          forcepathstyle: true,
          rootdirectory: root,
          chunksize: 5 * MiB,
        }),
      );
      return {
        driver,
        cleanup: async () => {
          const left = await driver.client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: `${root}/` }));
          await driver.close();
          assert.deepEqual(
            (left.Contents ?? []).map((o) => o.Key),
            [],
            'test left objects behind',
          );
        },
      };
    },
  });
}
