/**
 * Catalog and tags pagination in process: `n`, `last`, the Link header exactly as Distribution's
 * createLinkEntry formats it (`<path?last=..&n=..>; rel="next"`, url.Values encoding sorts `last` before `n`),
 * catalog.maxentries, and PAGINATION_NUMBER_INVALID with Distribution's detail.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { MT, oneError, pushBlob, pushImage, startTestRegistry, type TestRegistry } from './fixture.test.js';

const REPOS = ['alpha', 'beta/one', 'beta/two', 'gamma'];
const TAGS = ['1.0', '1.1', '2.0', 'latest', 'v3'];

describe('catalog and tags pagination', () => {
  let reg: TestRegistry;
  before(async () => {
    reg = await startTestRegistry({ catalog: { maxentries: 3 } });
    for (const r of [...REPOS].reverse()) await pushImage(reg, r, 'latest', MT.dockerManifest);
    for (const t of TAGS) await pushImage(reg, 'tagged', t, MT.dockerManifest);
    // A repository with blobs but no manifest is not in the catalog.
    await pushBlob(reg, 'blobs-only', 'no manifest here');
  });
  after(() => reg.close());

  test('the catalog lists repositories with manifests in lexical order, at most catalog.maxentries', async () => {
    const r = await reg.req('GET', '/v2/_catalog');
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-type'], 'application/json; charset=utf-8');
    assert.equal(r.text, '{"repositories":["alpha","beta/one","beta/two"]}\n');
    assert.equal(r.headers.link, '</v2/_catalog?last=beta%2Ftwo&n=3>; rel="next"');
  });

  test('n and last page through the catalog; the last page has no Link', async () => {
    const first = await reg.req('GET', '/v2/_catalog?n=2');
    assert.deepEqual(first.json(), { repositories: ['alpha', 'beta/one'] });
    assert.equal(first.headers.link, '</v2/_catalog?last=beta%2Fone&n=2>; rel="next"');
    const second = await reg.req('GET', '/v2/_catalog?n=2&last=beta%2Fone');
    assert.deepEqual(second.json(), { repositories: ['beta/two', 'gamma'] });
    assert.equal(second.headers.link, '</v2/_catalog?last=gamma&n=2>; rel="next"');
    const third = await reg.req('GET', '/v2/_catalog?n=2&last=gamma');
    assert.deepEqual(third.json(), { repositories: ['tagged'] });
    assert.equal(third.headers.link, undefined);
    // `last` need not be an existing repository: entries after it, lexically.
    assert.deepEqual((await reg.req('GET', '/v2/_catalog?n=3&last=b')).json(), {
      repositories: ['beta/one', 'beta/two', 'gamma'],
    });
    assert.deepEqual((await reg.req('GET', '/v2/_catalog?last=zzz')).json(), { repositories: [] });
  });

  test('n=0 is an empty page without Link; an empty n is the default', async () => {
    const zero = await reg.req('GET', '/v2/_catalog?n=0');
    assert.equal(zero.text, '{"repositories":[]}\n');
    assert.equal(zero.headers.link, undefined);
    assert.equal((await reg.req('GET', '/v2/_catalog?n=')).json().repositories.length, 3);
  });

  test('a bad n is 400 PAGINATION_NUMBER_INVALID: the raw string as detail, the number when above maxentries', async () => {
    for (const n of ['abc', '-1', '1.5', '0x10']) {
      const r = await reg.req('GET', `/v2/_catalog?n=${n}`);
      assert.equal(r.status, 400, n);
      assert.equal(
        r.text,
        `{"errors":[{"code":"PAGINATION_NUMBER_INVALID","message":"invalid number of results requested","detail":{"n":"${n}"}}]}\n`,
      );
    }
    const big = await reg.req('GET', '/v2/_catalog?n=4');
    assert.equal(big.status, 400);
    assert.equal(
      big.text,
      '{"errors":[{"code":"PAGINATION_NUMBER_INVALID","message":"invalid number of results requested","detail":{"n":4}}]}\n',
    );
  });

  test("tags: all of them sorted without n; n and last page with a Link on the request's own path", async () => {
    const all = await reg.req('GET', '/v2/tagged/tags/list');
    assert.equal(all.text, `{"name":"tagged","tags":${JSON.stringify(TAGS)}}\n`);
    assert.equal(all.headers.link, undefined);
    const first = await reg.req('GET', '/v2/tagged/tags/list?n=2');
    assert.deepEqual(first.json(), { name: 'tagged', tags: ['1.0', '1.1'] });
    assert.equal(first.headers.link, '</v2/tagged/tags/list?last=1.1&n=2>; rel="next"');
    const second = await reg.req('GET', '/v2/tagged/tags/list?last=1.1&n=2');
    assert.deepEqual(second.json().tags, ['2.0', 'latest']);
    assert.equal(second.headers.link, '</v2/tagged/tags/list?last=latest&n=2>; rel="next"');
    const end = await reg.req('GET', '/v2/tagged/tags/list?last=latest&n=2');
    assert.deepEqual(end.json().tags, ['v3']);
    assert.equal(end.headers.link, undefined);
    // Exactly the remaining count: no next page.
    assert.equal((await reg.req('GET', '/v2/tagged/tags/list?n=5')).headers.link, undefined);
    assert.deepEqual((await reg.req('GET', '/v2/tagged/tags/list?last=2.0')).json().tags, ['latest', 'v3']);
  });

  test('tags: a bad n is PAGINATION_NUMBER_INVALID; an unknown repository 404 NAME_UNKNOWN', async () => {
    const bad = await reg.req('GET', '/v2/tagged/tags/list?n=-3');
    assert.equal(bad.status, 400);
    assert.deepEqual(oneError(bad), {
      code: 'PAGINATION_NUMBER_INVALID',
      message: 'invalid number of results requested',
      detail: { n: '-3' },
    });
    const unknown = await reg.req('GET', '/v2/nobody/tags/list');
    assert.equal(unknown.status, 404);
    assert.equal(
      unknown.text,
      '{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry","detail":{"name":"nobody"}}]}\n',
    );
  });
});

describe('pagination under http.prefix', () => {
  test('the Link header carries the prefix', async () => {
    const reg = await startTestRegistry({ http: { prefix: '/sub/' } });
    try {
      for (const r of ['a', 'b']) await pushImage(reg, r, 'latest', MT.dockerManifest);
      const page = await reg.req('GET', '/sub/v2/_catalog?n=1');
      assert.equal(page.headers.link, '</sub/v2/_catalog?last=a&n=1>; rel="next"');
      const tags = await reg.req('GET', '/sub/v2/a/tags/list?n=0');
      assert.deepEqual(tags.json(), { name: 'a', tags: [] });
    } finally {
      await reg.close();
    }
  });
});
