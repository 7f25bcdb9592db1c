/**
 * `auth.token` verification, with keys and certificates made here (jose, @peculiar/x509): alg none and HMAC
 * refused, x5c chains verified to rootcertbundle, kid as RFC 7638 thumbprint and as libtrust key id (computed
 * independently below), jwks, exp/nbf with 60 s leeway, iss, aud as string and array, and the access claim
 * covering the request (with the challenge Distribution sends when it does not).
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { createHash, createPublicKey, webcrypto, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import * as x509 from '@peculiar/x509';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT, type JWTPayload } from 'jose';
import { createLogger } from '../log.js';
import { repositoryAccess } from './access.js';
import { TokenAccess, type TokenOptions } from './token.js';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

const ISSUER = 'test-issuer';
const SERVICE = 'registry.test';
const EC = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
const DAY = 86_400_000;
const log = createLogger({
  level: 'error',
  formatter: 'json',
  destination: new Writable({ write: (_c, _e, done) => done() }),
});

interface Ca {
  keys: CryptoKeyPair;
  cert: x509.X509Certificate;
}

async function selfSigned(cn: string, notAfter = new Date(Date.now() + DAY)): Promise<Ca> {
  const keys = (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    name: `CN=${cn}`,
    notBefore: new Date(Date.now() - DAY),
    notAfter,
    keys,
    signingAlgorithm: EC,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.digitalSignature, true),
    ],
  });
  return { keys, cert };
}

async function issued(cn: string, by: Ca, opts: { ca?: boolean; notAfter?: Date } = {}): Promise<Ca> {
  const keys = (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.create({
    subject: `CN=${cn}`,
    issuer: by.cert.subject,
    notBefore: new Date(Date.now() - DAY),
    notAfter: opts.notAfter ?? new Date(Date.now() + DAY),
    publicKey: keys.publicKey,
    signingKey: by.keys.privateKey,
    signingAlgorithm: EC,
    extensions: opts.ca
      ? [
          new x509.BasicConstraintsExtension(true, undefined, true),
          new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.digitalSignature, true),
        ]
      : [],
  });
  return { keys, cert };
}

const der = (c: Ca) => Buffer.from(c.cert.rawData).toString('base64');
const publicKeyOf = (c: Ca): KeyObject => createPublicKey(c.cert.publicKey.toString('pem'));

/** The libtrust key id, written independently of src/auth/keys.ts: SHA-256 of the DER SPKI, 240 bits, base32, 12x4. */
function libtrustId(key: KeyObject): string {
  const bytes = createHash('sha256')
    .update(key.export({ type: 'spki', format: 'der' }))
    .digest()
    .subarray(0, 30);
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const b of bytes) bits += b.toString(2).padStart(8, '0');
  let out = '';
  for (let i = 0; i < bits.length; i += 5) out += alphabet[parseInt(bits.slice(i, i + 5), 2)];
  return out.match(/.{4}/g)!.join(':');
}

const nowS = () => Math.floor(Date.now() / 1000);
const claims = (over: JWTPayload = {}): JWTPayload => ({
  iss: ISSUER,
  aud: SERVICE,
  sub: 'alice',
  exp: nowS() + 300,
  access: [{ type: 'repository', name: 'a/b', actions: ['pull'] }],
  ...over,
});

function sign(
  payload: JWTPayload,
  header: Record<string, unknown>,
  key: CryptoKey | KeyObject | Uint8Array,
): Promise<string> {
  return new SignJWT(payload).setProtectedHeader({ alg: 'ES256', ...header } as never).sign(key);
}

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
const bearer = (token: string) =>
  ({ headers: { authorization: `Bearer ${token}` }, socket: {} }) as unknown as IncomingMessage;

describe('token verification', () => {
  let dir: string;
  let root: Ca;
  let intermediate: Ca;
  let leaf: Ca;
  let viaIntermediate: Ca;
  let stranger: Ca;
  let jwksKey: Awaited<ReturnType<typeof generateKeyPair>>;
  let t: TokenAccess;
  let options: TokenOptions;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'wharf-token-'));
    root = await selfSigned('test root');
    intermediate = await issued('test intermediate', root, { ca: true });
    leaf = await issued('token signer', root);
    viaIntermediate = await issued('signer via intermediate', intermediate);
    stranger = await selfSigned('not trusted');
    jwksKey = await generateKeyPair('RS256', { extractable: true });
    writeFileSync(join(dir, 'root.pem'), root.cert.toString('pem') + '\n');
    const jwk = { ...(await exportJWK(jwksKey.publicKey)), kid: 'jwks-key-1', alg: 'RS256', use: 'sig' };
    writeFileSync(join(dir, 'jwks.json'), JSON.stringify({ keys: [jwk] }));
    options = {
      realm: 'https://auth.test/token',
      service: SERVICE,
      issuer: ISSUER,
      rootcertbundle: join(dir, 'root.pem'),
      jwks: join(dir, 'jwks.json'),
      autoredirect: false,
      autoredirectpath: '/auth/token',
      log,
    };
    t = await TokenAccess.create(options);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('x5c: a leaf issued by the root, and a chain through an intermediate, verify', async () => {
    const v = await t.verify(await sign(claims(), { x5c: [der(leaf)] }, leaf.keys.privateKey));
    assert.equal(v.sub, 'alice');
    assert.deepEqual(v.access, [{ type: 'repository', name: 'a/b', actions: ['pull'] }]);
    await t.verify(
      await sign(claims(), { x5c: [der(viaIntermediate), der(intermediate)] }, viaIntermediate.keys.privateKey),
    );
    // The root itself as the chain (what our token server sends: its self-signed certificate).
    await t.verify(await sign(claims(), { x5c: [der(root)] }, root.keys.privateKey));
  });

  test("x5c: an untrusted chain, a broken chain, an expired leaf, or a key not the leaf's are refused", async () => {
    await assert.rejects(
      t.verify(await sign(claims(), { x5c: [der(stranger)] }, stranger.keys.privateKey)),
      /does not verify to rootcertbundle/,
    );
    await assert.rejects(
      t.verify(await sign(claims(), { x5c: [der(viaIntermediate)] }, viaIntermediate.keys.privateKey)),
      /does not verify/,
      'intermediate missing',
    );
    await assert.rejects(
      t.verify(await sign(claims(), { x5c: [der(viaIntermediate), der(stranger)] }, viaIntermediate.keys.privateKey)),
      /does not verify/,
    );
    const expired = await issued('expired', root, { notAfter: new Date(Date.now() - 1000) });
    await assert.rejects(
      t.verify(await sign(claims(), { x5c: [der(expired)] }, expired.keys.privateKey)),
      /does not verify/,
    );
    await assert.rejects(
      t.verify(await sign(claims(), { x5c: [der(leaf)] }, stranger.keys.privateKey)),
      /bad signature/,
    );
    await assert.rejects(
      t.verify(await sign(claims(), { x5c: ['not base64 der'] }, leaf.keys.privateKey)),
      /does not verify/,
    );
  });

  test('kid: the RFC 7638 thumbprint or the libtrust key id of a bundle key; anything else is refused', async () => {
    const key = publicKeyOf(root);
    const thumbprint = await calculateJwkThumbprint(await exportJWK(key), 'sha256');
    const libtrust = libtrustId(key);
    assert.match(libtrust, /^([A-Z2-7]{4}:){11}[A-Z2-7]{4}$/);
    for (const kid of [thumbprint, libtrust]) await t.verify(await sign(claims(), { kid }, root.keys.privateKey));
    await assert.rejects(
      t.verify(await sign(claims(), { kid: libtrustId(publicKeyOf(stranger)) }, stranger.keys.privateKey)),
      /untrusted key/,
    );
    await assert.rejects(
      t.verify(await sign(claims(), { kid: thumbprint }, stranger.keys.privateKey)),
      /bad signature/,
      'a trusted kid with another key',
    );
    await assert.rejects(t.verify(await sign(claims(), {}, root.keys.privateKey)), /unable to get token signing key/);
  });

  test('jwks: by its kid or its thumbprint', async () => {
    const thumbprint = await calculateJwkThumbprint(await exportJWK(jwksKey.publicKey), 'sha256');
    for (const kid of ['jwks-key-1', thumbprint]) {
      const v = await t.verify(await sign(claims({ sub: `by-${kid}` }), { alg: 'RS256', kid }, jwksKey.privateKey));
      assert.equal(v.sub, `by-${kid}`);
    }
  });

  test('alg none is refused, with or without a signature', async () => {
    const unsigned = `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims())}.`;
    await assert.rejects(t.verify(unsigned), /signing algorithm "none" is not accepted/);
    const anyKid = `${b64({ alg: 'none', kid: 'jwks-key-1' })}.${b64(claims())}.c2ln`;
    await assert.rejects(t.verify(anyKid), /not accepted/);
    await assert.rejects(t.verify(`${b64({ typ: 'JWT' })}.${b64(claims())}.`), /signing algorithm undefined/);
  });

  test('HMAC is refused, even keyed with the trusted public key (the key-confusion attack)', async () => {
    const pem = Buffer.from(publicKeyOf(root).export({ type: 'spki', format: 'pem' }));
    const kid = libtrustId(publicKeyOf(root));
    for (const alg of ['HS256', 'HS384', 'HS512']) {
      await assert.rejects(t.verify(await sign(claims(), { alg, kid }, new Uint8Array(pem))), /is not accepted/, alg);
    }
    // Even when configured in signingalgorithms (Distribution accepts the name): never verified.
    const hs = await TokenAccess.create({ ...options, signingalgorithms: ['HS256', 'ES256'] });
    await assert.rejects(
      hs.verify(await sign(claims(), { alg: 'HS256', kid }, new Uint8Array(pem))),
      /is not accepted/,
    );
  });

  test('signingalgorithms restricts what is accepted; an unknown name stops the start', async () => {
    const rsOnly = await TokenAccess.create({ ...options, signingalgorithms: ['RS256'] });
    await assert.rejects(
      rsOnly.verify(await sign(claims(), { x5c: [der(leaf)] }, leaf.keys.privateKey)),
      /"ES256" is not accepted/,
    );
    await rsOnly.verify(await sign(claims(), { alg: 'RS256', kid: 'jwks-key-1' }, jwksKey.privateKey));
    await assert.rejects(
      TokenAccess.create({ ...options, signingalgorithms: ['XX999'] }),
      /unsupported signing algorithm "XX999"/,
    );
  });

  test('a modified payload fails the signature', async () => {
    const token = await sign(claims(), { x5c: [der(leaf)] }, leaf.keys.privateKey);
    const [h, , s] = token.split('.');
    const forged = `${h}.${b64(claims({ access: [{ type: 'repository', name: 'a/b', actions: ['*'] }] }))}.${s}`;
    await assert.rejects(t.verify(forged), /bad signature/);
    await assert.rejects(t.verify('one.two'), /malformed/);
    await assert.rejects(t.verify('!!.!!.!!'), /malformed/);
  });

  test('exp is required and gets 60 s of leeway; so does nbf', async () => {
    const k = { x5c: [der(leaf)] };
    const now = Date.now();
    const s = Math.floor(now / 1000);
    await t.verify(await sign(claims({ exp: s - 59 }), k, leaf.keys.privateKey), now);
    await assert.rejects(t.verify(await sign(claims({ exp: s - 61 }), k, leaf.keys.privateKey), now), /expired/);
    await assert.rejects(
      t.verify(await sign(claims({ exp: undefined }), k, leaf.keys.privateKey), now),
      /no exp claim/,
    );
    await t.verify(await sign(claims({ nbf: s + 59 }), k, leaf.keys.privateKey), now);
    await assert.rejects(t.verify(await sign(claims({ nbf: s + 61 }), k, leaf.keys.privateKey), now), /not valid yet/);
    // A token remembered as verified still expires.
    const short = await sign(claims({ exp: s + 10 }), k, leaf.keys.privateKey);
    await t.verify(short, now);
    await assert.rejects(t.verify(short, now + 71_000), /expired/);
  });

  test('iss must equal the issuer; aud (string or array) must contain the service', async () => {
    const k = { x5c: [der(leaf)] };
    await assert.rejects(
      t.verify(await sign(claims({ iss: 'other' }), k, leaf.keys.privateKey)),
      /untrusted issuer "other"/,
    );
    await assert.rejects(t.verify(await sign(claims({ iss: undefined }), k, leaf.keys.privateKey)), /untrusted issuer/);
    await t.verify(await sign(claims({ aud: [SERVICE] }), k, leaf.keys.privateKey));
    await t.verify(await sign(claims({ aud: ['other', SERVICE] }), k, leaf.keys.privateKey));
    await assert.rejects(t.verify(await sign(claims({ aud: ['other'] }), k, leaf.keys.privateKey)), /another audience/);
    await assert.rejects(
      t.verify(await sign(claims({ aud: `${SERVICE}#refresh` }), k, leaf.keys.privateKey)),
      /another audience/,
    );
    await assert.rejects(t.verify(await sign(claims({ aud: undefined }), k, leaf.keys.privateKey)), /another audience/);
  });

  test('authorize: the access claim must cover every requested action; the challenge says why not', async () => {
    const token = await sign(
      claims({
        access: [
          { type: 'repository', name: 'a/b', actions: ['pull'] },
          { type: 'repository', name: 'c/d', actions: ['*'] },
        ],
      }),
      { x5c: [der(leaf)] },
      leaf.keys.privateKey,
    );
    assert.deepEqual(await t.authorize(bearer(token), repositoryAccess('a/b', ['pull'])), {
      granted: true,
      user: 'alice',
    });
    assert.deepEqual(await t.authorize(bearer(token), repositoryAccess('c/d', ['pull', 'push', 'delete'])), {
      granted: true,
      user: 'alice',
    });
    const short = await t.authorize(bearer(token), repositoryAccess('a/b', ['pull', 'push']));
    assert.equal(short.granted, false);
    assert.equal(
      !short.granted && short.headers['WWW-Authenticate'],
      'Bearer realm="https://auth.test/token",service="registry.test",scope="repository:a/b:pull,push",error="insufficient_scope"',
    );
    assert.equal(!short.granted && short.reason, 'scope');
    assert.equal(
      (await t.authorize(bearer(token), repositoryAccess('a/bc', ['pull']))).granted,
      false,
      'names match exactly',
    );
    assert.equal(
      (await t.authorize(bearer(token), [{ type: 'registry', class: '', name: 'a/b', action: 'pull' }])).granted,
      false,
      'types match exactly',
    );
  });

  test('authorize: no token is a challenge without error; a bad one error="invalid_token"', async () => {
    const none = await t.authorize(
      { headers: {}, socket: {} } as unknown as IncomingMessage,
      repositoryAccess('a/b', ['pull']),
    );
    assert.equal(
      !none.granted && none.headers['WWW-Authenticate'],
      'Bearer realm="https://auth.test/token",service="registry.test",scope="repository:a/b:pull"',
    );
    const basic = await t.authorize(
      { headers: { authorization: 'Basic YTpi' }, socket: {} } as unknown as IncomingMessage,
      [],
    );
    assert.equal(
      !basic.granted && basic.headers['WWW-Authenticate'],
      'Bearer realm="https://auth.test/token",service="registry.test"',
    );
    const bad = await t.authorize(bearer('not.a.token'), repositoryAccess('a/b', ['pull']));
    assert.equal(
      !bad.granted && bad.headers['WWW-Authenticate'],
      'Bearer realm="https://auth.test/token",service="registry.test",scope="repository:a/b:pull",error="invalid_token"',
    );
  });

  test('a bundle without keys, or an unreadable one, stops the start with the key path', async () => {
    writeFileSync(join(dir, 'empty.pem'), '');
    await assert.rejects(
      TokenAccess.create({ ...options, rootcertbundle: join(dir, 'empty.pem'), jwks: undefined }),
      /requires at least one token signing key/,
    );
    await assert.rejects(
      TokenAccess.create({ ...options, rootcertbundle: join(dir, 'missing.pem') }),
      /auth\.token\.rootcertbundle: cannot read/,
    );
  });
});
