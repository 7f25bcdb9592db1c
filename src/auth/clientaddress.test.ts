/** The client address: the TCP peer, or what a trusted proxy says, and how throttling keys it. */
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { describe, it } from 'node:test';
import {
  clientAddress,
  normaliseAddress,
  rememberClientAddress,
  throttleAddressKey,
  TrustedProxies,
} from './clientaddress.js';

function req(peer: string, headers: Record<string, string | string[]> = {}): IncomingMessage {
  return { socket: { remoteAddress: peer }, headers } as unknown as IncomingMessage;
}

describe('TrustedProxies.resolve', () => {
  const proxies = new TrustedProxies(['10.0.0.0/8', '192.0.2.7', 'fd00::/8']);

  it('ignores the headers of a peer that is not listed', () => {
    assert.equal(proxies.resolve(req('203.0.113.9', { 'x-forwarded-for': '1.2.3.4' })), '203.0.113.9');
    assert.equal(
      new TrustedProxies([]).resolve(req('10.0.0.1', { 'x-forwarded-for': '1.2.3.4', forwarded: 'for=5.6.7.8' })),
      '10.0.0.1',
    );
  });

  it('takes the right-most address no trusted proxy vouches for, never a forged left part', () => {
    assert.equal(proxies.resolve(req('10.0.0.1', { 'x-forwarded-for': '1.2.3.4' })), '1.2.3.4');
    assert.equal(
      proxies.resolve(req('10.0.0.1', { 'x-forwarded-for': 'forged, 198.51.100.5, 10.9.9.9' })),
      '198.51.100.5',
    );
    assert.equal(
      proxies.resolve(req('::ffff:10.0.0.1', { 'x-forwarded-for': ['6.6.6.6', '198.51.100.6'] })),
      '198.51.100.6',
      'several headers join in order',
    );
    assert.equal(
      proxies.resolve(req('10.0.0.1', { 'x-forwarded-for': '10.1.1.1, 192.0.2.7' })),
      '10.1.1.1',
      'all trusted: the left-most',
    );
    assert.equal(
      proxies.resolve(req('10.0.0.1', { 'x-forwarded-for': 'garbage' })),
      '10.0.0.1',
      'nothing believable: the peer',
    );
  });

  it('reads Forwarded (quoted, bracketed, with ports) only without X-Forwarded-For', () => {
    assert.equal(
      proxies.resolve(req('10.0.0.1', { forwarded: 'for=1.1.1.1, for="[2001:db8::1]:4711";proto=https' })),
      '2001:db8::1',
    );
    assert.equal(proxies.resolve(req('10.0.0.1', { forwarded: 'for=198.51.100.1:80;by=10.0.0.1' })), '198.51.100.1');
    assert.equal(
      proxies.resolve(req('10.0.0.1', { forwarded: 'for=9.9.9.9', 'x-forwarded-for': '8.8.8.8' })),
      '8.8.8.8',
    );
    assert.equal(
      proxies.resolve(req('10.0.0.1', { forwarded: 'for=9.9.9.9, for=unknown' })),
      '10.0.0.1',
      'an unknown hop stops the walk',
    );
  });

  it('rejects entries that are not addresses or CIDR blocks, naming them', () => {
    for (const bad of ['10.0.0.0/33', 'example.com', '10.0.0.0/8/1', 'fd00::/129'])
      assert.throws(() => new TrustedProxies([bad]), new RegExp(bad.replace(/[./]/g, '\\$&')));
  });
});

describe('clientAddress', () => {
  it('is what rememberClientAddress() decided, else the normalised peer', () => {
    const r = req('10.0.0.1', { 'x-forwarded-for': '1.2.3.4' });
    assert.equal(clientAddress(r), '10.0.0.1');
    assert.equal(rememberClientAddress(r, new TrustedProxies(['10.0.0.1'])), '1.2.3.4');
    assert.equal(clientAddress(r), '1.2.3.4');
    assert.equal(clientAddress(req('::ffff:127.0.0.2')), '127.0.0.2');
  });
});

describe('addresses', () => {
  it('normalise: IPv4-mapped, brackets, zone ids, ports; not addresses are null', () => {
    assert.equal(normaliseAddress('::ffff:192.0.2.1'), '192.0.2.1');
    assert.equal(normaliseAddress('[2001:DB8::1]:443'), '2001:db8::1');
    assert.equal(normaliseAddress('fe80::1%eth0'), 'fe80::1');
    assert.equal(normaliseAddress('192.0.2.1:8080'), '192.0.2.1');
    assert.equal(normaliseAddress('unknown'), null);
  });

  it('throttling counts IPv6 by /64, IPv4 by address', () => {
    assert.equal(throttleAddressKey('192.0.2.1'), '192.0.2.1');
    assert.equal(throttleAddressKey('2001:db8:a:b:1:2:3:4'), '2001:db8:a:b::/64');
    assert.equal(throttleAddressKey('2001:db8:a:b::9'), '2001:db8:a:b::/64');
    assert.equal(throttleAddressKey('2001:db8::1'), '2001:db8:0:0::/64');
    assert.equal(throttleAddressKey('::1'), '0:0:0:0::/64');
    assert.equal(throttleAddressKey('::1:2:3:4:5.6.7.8'), '0:0:1:2::/64', 'a dotted tail is two groups');
  });
});
