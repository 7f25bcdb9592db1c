/**
 * `auth.token` end to end: wharf as a real process trusting a PKI made by openssl, a token server signing with
 * x5c chains (RS256 leaf; ES256 leaf + intermediate) or a bare `kid` (RFC 7638 thumbprint; libtrust id), and
 * `jwks` as the alternative key source. Checks the challenge format and 401 body, skopeo's full Bearer flow, and
 * that every forged or out-of-date token is refused with `error="invalid_token"` while its one-fault-removed twin passes.
 */
import assert from 'node:assert/strict';
import { createHmac, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { exportJWK } from 'jose';
import { startWharf, testConfig, type Wharf } from './harness.js';
import { LayoutReader, OciLayout, type BuiltImage } from './ocilayout.js';
import { copy, SKOPEO, SKOPEO_MISSING } from './skopeo.js';
import {
  libtrustKid,
  makePki,
  mint,
  OPENSSL,
  OPENSSL_MISSING,
  startTokenServer,
  thumbprintKid,
  type Pki,
  type Signer,
  type TokenServer,
} from './tokenserver.js';

const SERVICE = 'wharf-e2e-registry';
const ISSUER = 'wharf-e2e-token-issuer';
const CATALOG = [{ type: 'registry', name: 'catalog', actions: ['*'] }];

function config(auth: string): string {
  // No storage.delete: these tests look at challenges only.
  return testConfig({ logLevel: 'info', storage: '', extra: `auth:\n  token:\n${auth}` });
}

const b64url = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
const now = () => Math.floor(Date.now() / 1000);

/** Valid claims for the catalog; `over` replaces or (with undefined) removes claims. */
function claims(over: Record<string, unknown> = {}): Record<string, unknown> {
  const t = now();
  const c: Record<string, unknown> = {
    iss: ISSUER,
    sub: 'alice',
    aud: SERVICE,
    iat: t,
    nbf: t,
    exp: t + 300,
    access: CATALOG,
    ...over,
  };
  for (const [k, v] of Object.entries(c)) if (v === undefined) delete c[k];
  return c;
}

async function get(
  url: string,
  token?: string,
  method = 'GET',
): Promise<{ status: number; challenge: string | null; body: string }> {
  const r = await fetch(url, { method, headers: token === undefined ? {} : { Authorization: `Bearer ${token}` } });
  return { status: r.status, challenge: r.headers.get('www-authenticate'), body: await r.text() };
}

describe('auth.token with rootcertbundle', { skip: OPENSSL ? false : OPENSSL_MISSING }, () => {
  let work: string;
  let pki: Pki;
  let ts: TokenServer;
  let w: Wharf;
  let challengeBase: string;

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'wharf-e2e-token-'));
    pki = await makePki(work);
    ts = await startTokenServer({
      issuer: ISSUER,
      service: SERVICE,
      signer: pki.rsaX5c,
      users: {
        alice: { password: 'alice-pw', actions: ['pull', 'push'] },
        reader: { password: 'reader-pw', actions: ['pull'] },
      },
    });
    w = await startWharf({
      config: config(
        `    realm: ${ts.realm}\n    service: ${SERVICE}\n    issuer: ${ISSUER}\n    rootcertbundle: ${pki.bundlePath}\n`,
      ),
    });
    challengeBase = `Bearer realm="${ts.realm}",service="${SERVICE}"`;
  });

  after(async () => {
    await w?.cleanup();
    await ts?.close();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  /** GET /v2/_catalog with `token`; asserts 200 or 401 + invalid_token. */
  async function expectCatalog(token: string, accepted: boolean): Promise<void> {
    const r = await get(`${w.url}/v2/_catalog`, token);
    if (accepted) {
      assert.equal(r.status, 200, r.body);
      assert.ok(Array.isArray((JSON.parse(r.body) as { repositories: unknown }).repositories));
    } else {
      assert.equal(r.status, 401, r.body);
      assert.equal(r.challenge, `${challengeBase},scope="registry:catalog:*",error="invalid_token"`);
      assert.equal(
        r.body,
        '{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":[{"Type":"registry","Class":"","Name":"catalog","Action":"*"}]}]}\n',
      );
    }
  }

  test('no token: a challenge with realm, service and scope, no error, and the 401 body with the requested access', async () => {
    const r = await get(`${w.url}/v2/foo/blobs/uploads/`, undefined, 'POST');
    assert.equal(r.status, 401);
    assert.equal(r.challenge, `${challengeBase},scope="repository:foo:pull,push"`);
    assert.equal(
      r.body,
      '{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":[{"Type":"repository","Class":"","Name":"foo","Action":"pull"},{"Type":"repository","Class":"","Name":"foo","Action":"push"}]}]}\n',
    );
    const mount = await get(
      `${w.url}/v2/foo/blobs/uploads/?mount=sha256:${'a'.repeat(64)}&from=bar`,
      undefined,
      'POST',
    );
    assert.equal(mount.status, 401);
    assert.equal(mount.challenge, `${challengeBase},scope="repository:foo:pull,push repository:bar:pull"`);
    const base = await get(`${w.url}/v2/`);
    assert.equal(base.status, 401);
    assert.equal(base.challenge, challengeBase);
    assert.equal(base.body, '{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":null}]}\n');
    const basic = await fetch(`${w.url}/v2/`, { headers: { Authorization: `Basic ${b64url('alice:alice-pw')}` } });
    await basic.arrayBuffer();
    assert.equal(basic.status, 401, 'Basic credentials are not a token');
    assert.equal(basic.headers.get('www-authenticate'), challengeBase);
  });

  test('a garbage token gets error="invalid_token"', async () => {
    const r = await get(`${w.url}/v2/foo/tags/list`, 'not-a-jwt');
    assert.equal(r.status, 401);
    assert.equal(r.challenge, `${challengeBase},scope="repository:foo:pull",error="invalid_token"`);
  });

  test('a valid token lacking an action gets error="insufficient_scope"; with the action it passes', async () => {
    const pullOnly = await mint(
      pki.rsaX5c,
      claims({ access: [{ type: 'repository', name: 'foo', actions: ['pull'] }] }),
    );
    const r = await get(`${w.url}/v2/foo/blobs/uploads/`, pullOnly, 'POST');
    assert.equal(r.status, 401);
    assert.equal(r.challenge, `${challengeBase},scope="repository:foo:pull,push",error="insufficient_scope"`);
    assert.match(
      r.body,
      /"detail":\[\{"Type":"repository","Class":"","Name":"foo","Action":"pull"\},\{"Type":"repository","Class":"","Name":"foo","Action":"push"\}\]/,
    );
    const otherRepo = await mint(
      pki.rsaX5c,
      claims({ access: [{ type: 'repository', name: 'bar', actions: ['pull', 'push'] }] }),
    );
    assert.match((await get(`${w.url}/v2/foo/tags/list`, otherRepo)).challenge ?? '', /error="insufficient_scope"$/);
    const both = await mint(
      pki.rsaX5c,
      claims({ access: [{ type: 'repository', name: 'foo', actions: ['pull', 'push'] }] }),
    );
    const ok = await get(`${w.url}/v2/foo/blobs/uploads/`, both, 'POST');
    assert.equal(ok.status, 202, ok.body);
    const star = await mint(pki.rsaX5c, claims({ access: [{ type: 'repository', name: 'foo', actions: ['*'] }] }));
    assert.equal((await get(`${w.url}/v2/foo/blobs/uploads/`, star, 'POST')).status, 202, '"*" grants every action');
  });

  test('keys: RS256 x5c leaf, ES256 x5c leaf + intermediate, kid as RFC 7638 thumbprint, kid as libtrust id', async () => {
    assert.match(pki.ecLibtrustKid.header.kid!, /^([A-Z2-7]{4}:){11}[A-Z2-7]{4}$/);
    for (const signer of [pki.rsaX5c, pki.ecX5c, pki.rsaThumbprintKid, pki.ecLibtrustKid])
      await expectCatalog(await mint(signer, claims()), true);
    // Both id formats name either key.
    await expectCatalog(
      await mint(pki.rsaThumbprintKid, claims(), { kid: libtrustKid(pki.rsaThumbprintKid.key) }),
      true,
    );
    await expectCatalog(
      await mint(pki.ecLibtrustKid, claims(), { kid: await thumbprintKid(pki.ecLibtrustKid.key) }),
      true,
    );
  });

  test('audience as an array containing the service is accepted', async () => {
    await expectCatalog(await mint(pki.rsaX5c, claims({ aud: ['someone-else', SERVICE] })), true);
  });

  test('expired within the 60 s leeway is accepted', async () => {
    await expectCatalog(await mint(pki.rsaX5c, claims({ exp: now() - 20 })), true);
  });

  test('refused: alg none', async () => {
    const token = `${b64url({ alg: 'none', typ: 'JWT', x5c: pki.rsaX5c.header.x5c })}.${b64url(claims())}.`;
    await expectCatalog(token, false);
    await expectCatalog(
      `${b64url({ alg: 'none', typ: 'JWT', kid: pki.rsaThumbprintKid.header.kid })}.${b64url(claims())}.`,
      false,
    );
  });

  test('refused: HS256 signed with the public key PEM as HMAC secret', async () => {
    for (const header of [{ x5c: pki.rsaX5c.header.x5c }, { kid: pki.rsaThumbprintKid.header.kid }]) {
      const input = `${b64url({ alg: 'HS256', typ: 'JWT', ...header })}.${b64url(claims())}`;
      const secret = header.kid
        ? createPublicKey(pki.rsaThumbprintKid.key).export({ type: 'spki', format: 'pem' })
        : pki.rsaPublicPem;
      await expectCatalog(`${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`, false);
    }
  });

  test('refused: expired beyond the leeway', async () => {
    await expectCatalog(
      await mint(pki.rsaX5c, claims({ iat: now() - 600, nbf: now() - 600, exp: now() - 120 })),
      false,
    );
  });

  test('refused: nbf in the future beyond the leeway (within it: accepted)', async () => {
    await expectCatalog(await mint(pki.rsaX5c, claims({ nbf: now() + 300 })), false);
    await expectCatalog(await mint(pki.rsaX5c, claims({ nbf: now() + 20 })), true);
  });

  test('refused: wrong audience (string or array without the service)', async () => {
    await expectCatalog(await mint(pki.rsaX5c, claims({ aud: 'another-registry' })), false);
    await expectCatalog(await mint(pki.rsaX5c, claims({ aud: ['another-registry'] })), false);
    await expectCatalog(await mint(pki.rsaX5c, claims({ aud: undefined })), false);
  });

  test('refused: wrong issuer', async () => {
    await expectCatalog(await mint(pki.rsaX5c, claims({ iss: 'evil-issuer' })), false);
  });

  test('refused: missing exp', async () => {
    await expectCatalog(await mint(pki.rsaX5c, claims({ exp: undefined })), false);
  });

  test('refused: tampered payload', async () => {
    const [h, , s] = (await mint(pki.rsaX5c, claims({ access: [] }))).split('.');
    await expectCatalog(`${h}.${b64url(claims())}.${s}`, false);
  });

  test('refused: tampered signature', async () => {
    for (const signer of [pki.rsaX5c, pki.ecX5c]) {
      const [h, p, s] = (await mint(signer, claims())).split('.');
      const flipped = (s[0] === 'A' ? 'B' : 'A') + s.slice(1);
      await expectCatalog(`${h}.${p}.${flipped}`, false);
    }
  });

  test('refused: x5c chain from an unrelated CA (same subject name as the root)', async () => {
    await expectCatalog(await mint(pki.rogueX5c, claims()), false);
    await expectCatalog(await mint(pki.rogueX5c, claims(), { x5c: pki.rogueX5c.header.x5c!.slice(0, 1) }), false);
    // A trusted leaf's certificate with another key's signature.
    await expectCatalog(await mint(pki.rogueX5c, claims(), { x5c: pki.rsaX5c.header.x5c }), false);
  });

  test('refused: kid unknown', async () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const stranger: Signer = { alg: 'ES256', key: privateKey, header: {} };
    await expectCatalog(await mint(stranger, claims(), { kid: await thumbprintKid(privateKey) }), false);
    await expectCatalog(await mint(stranger, claims(), { kid: libtrustKid(privateKey) }), false);
    // A trusted key's id on a token signed by another key.
    await expectCatalog(await mint(stranger, claims(), { kid: pki.ecLibtrustKid.header.kid }), false);
  });

  describe('skopeo follows the Bearer flow', { skip: SKOPEO ? false : SKOPEO_MISSING }, () => {
    let layout: OciLayout;
    let image: BuiltImage;
    let reg: string;

    before(() => {
      layout = new OciLayout(join(work, 'layout'));
      image = layout.image('token', { os: 'linux', architecture: 'amd64' });
      layout.tag('v1', image.manifest);
      reg = `127.0.0.1:${w.port}`;
    });

    test('push with a user allowed to push, pull back with a read-only user', async () => {
      ts.signer = pki.ecX5c;
      ts.requests.length = 0;
      await copy(
        `oci:${layout.dir}:v1`,
        `docker://${reg}/e2e/token:v1`,
        '--dest-creds',
        'alice:alice-pw',
        '--authfile',
        join(work, 'auth-none.json'),
      );
      assert.ok(
        ts.requests.some(
          (r) => r.user === 'alice' && r.service === SERVICE && r.scopes.includes('repository:e2e/token:pull,push'),
        ),
        `token requests: ${JSON.stringify(ts.requests)}`,
      );
      ts.signer = pki.rsaThumbprintKid;
      const out = join(work, 'pulled');
      await copy(
        `docker://${reg}/e2e/token:v1`,
        `oci:${out}:v1`,
        '--src-creds',
        'reader:reader-pw',
        '--authfile',
        join(work, 'auth-none.json'),
      );
      const pulled = new LayoutReader(out);
      assert.equal(pulled.ref('v1').digest, image.manifest.digest);
      assert.deepEqual(pulled.blob(image.layers[0].digest), image.layers[0].bytes);
      ts.signer = pki.rsaX5c;
    });

    test('push refused for a user granted only pull, and for wrong credentials', async () => {
      await assert.rejects(
        copy(
          `oci:${layout.dir}:v1`,
          `docker://${reg}/e2e/token-ro:v1`,
          '--dest-creds',
          'reader:reader-pw',
          '--authfile',
          join(work, 'auth-none.json'),
        ),
      );
      await assert.rejects(
        copy(
          `oci:${layout.dir}:v1`,
          `docker://${reg}/e2e/token-ro:v1`,
          '--dest-creds',
          'alice:wrong',
          '--authfile',
          join(work, 'auth-none.json'),
        ),
      );
      const token = await mint(
        pki.rsaX5c,
        claims({ access: [{ type: 'repository', name: 'e2e/token-ro', actions: ['pull'] }] }),
      );
      assert.equal((await get(`${w.url}/v2/e2e/token-ro/tags/list`, token)).status, 404, 'nothing was pushed');
    });
  });
});

describe('auth.token with jwks', { skip: OPENSSL ? false : OPENSSL_MISSING }, () => {
  let work: string;
  let pki: Pki;
  let w: Wharf;
  let signer: Signer;

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'wharf-e2e-token-jwks-'));
    pki = await makePki(work);
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    signer = { alg: 'ES256', key: privateKey, header: { kid: 'wharf-e2e-jwks-key' } };
    const jwk = {
      ...(await exportJWK(createPublicKey(privateKey))),
      kid: 'wharf-e2e-jwks-key',
      alg: 'ES256',
      use: 'sig',
    };
    const jwksPath = join(work, 'jwks.json');
    writeFileSync(jwksPath, JSON.stringify({ keys: [jwk] }));
    w = await startWharf({
      config: config(
        `    realm: http://127.0.0.1:9/token\n    service: ${SERVICE}\n    issuer: ${ISSUER}\n    jwks: ${jwksPath}\n`,
      ),
    });
  });

  after(async () => {
    await w?.cleanup();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  test('a token whose kid names a JWKS entry is accepted; by its RFC 7638 thumbprint too', async () => {
    const r = await get(`${w.url}/v2/_catalog`, await mint(signer, claims()));
    assert.equal(r.status, 200, r.body);
    assert.equal(
      (await get(`${w.url}/v2/_catalog`, await mint(signer, claims(), { kid: await thumbprintKid(signer.key) })))
        .status,
      200,
    );
  });

  test('without a rootcertbundle, x5c chains and unknown kids are refused', async () => {
    for (const token of [
      await mint(pki.rsaX5c, claims()),
      await mint(signer, claims(), { kid: 'another-key' }),
      await mint(pki.rsaThumbprintKid, claims()),
    ]) {
      const r = await get(`${w.url}/v2/_catalog`, token);
      assert.equal(r.status, 401);
      assert.match(r.challenge ?? '', /,error="invalid_token"$/);
    }
  });
});
