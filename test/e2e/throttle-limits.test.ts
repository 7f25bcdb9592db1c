/**
 * Login throttling end to end, with the default `bruteforce` settings unless a test says otherwise: a guesser is
 * held to the documented backoff while the real user logs in from elsewhere; a distributed attack never stops the
 * user's own address; a re-sent wrong password counts once; empty credentials never count; the token server and
 * the UI sign-in are throttled the same way. Assertions are on statuses, Retry-After values and counts, never on
 * how long anything took. Every test uses its own loopback addresses and user names.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { freePort, type Wharf } from './harness.js';
import { basic, call, login, logLines, startThrottled } from './throttle.js';

const USERS = { alice: 'alice-Pa55', victim: 'victim-Pa55', carol: 'carol-Pa55', dave: 'dave-Pa55', erin: 'erin-Pa55' };

describe('login throttling with the defaults (htpasswd)', () => {
  let w: Wharf;
  let metricsUrl: string;

  before(async () => {
    const port = await freePort();
    metricsUrl = `http://127.0.0.1:${port}/metrics`;
    w = await startThrottled(USERS, '', {
      http: `  debug:\n    addr: 127.0.0.1:${port}\n    prometheus:\n      enabled: true\n`,
    });
  });
  after(async () => {
    await w?.cleanup();
  });

  test('1,000 distinct wrong passwords from one address: 10 checked, then 429 with Retry-After 1, 2, 4 ...; the user logs in at once from 127.0.0.2', async () => {
    const answers: Array<{ status: number; retryAfter: number; at: number }> = [];
    let ownerLogin: Promise<number> | null = null;
    const started = Date.now();
    for (let i = 0; i < 1000; i++) {
      const a = await login(w, 'alice', `guess-${i}`);
      answers.push({ status: a.status, retryAfter: a.retryAfter, at: Date.now() });
      // The moment the guesser is throttled, the owner logs in from another address, while the guessing goes on.
      if (a.status === 429 && !ownerLogin)
        ownerLogin = login(w, 'alice', USERS.alice, '127.0.0.2').then((r) => r.status);
    }
    const elapsedSeconds = (Date.now() - started) / 1000;
    assert.equal(await ownerLogin, 200, 'the right password from an address that has not failed works at once');
    assert.ok(
      answers.every((a) => a.status === 401 || a.status === 429),
      'only 401 and 429',
    );
    assert.deepEqual(
      answers.slice(0, 10).map((a) => a.status),
      Array(10).fill(401),
      'maxfailures (10) are checked',
    );
    assert.deepEqual([answers[10].status, answers[10].retryAfter], [429, 1], 'then backoff.initial (1s)');
    // Each password checked past the limit doubles the delay: the first 429 after the k-th one says 2^k seconds,
    // less the whole seconds that passed between the two answers (Retry-After counts down; a loaded machine may
    // stall the guesser).
    let extra = 0;
    for (let i = 10; i < answers.length; i++) {
      if (answers[i].status === 401) {
        extra++;
        const next = answers[i + 1];
        if (!next) continue;
        const lost = Math.ceil((next.at - answers[i].at) / 1000);
        assert.ok(
          next.status === 429 && next.retryAfter <= 2 ** extra && next.retryAfter >= 2 ** extra - lost,
          `after extra failure ${extra}: ${JSON.stringify(next)}`,
        );
      }
    }
    // Delays of 1 + 2 + ... + 2^(k-1) = 2^k - 1 seconds must pass before the k-th extra check.
    assert.ok(2 ** extra - 1 <= elapsedSeconds + 1, `${extra} extra checks in ${elapsedSeconds}s`);
    assert.equal(answers.filter((a) => a.status === 401).length, 10 + extra);
    assert.ok(answers.filter((a) => a.status === 429).length >= 1000 - 10 - extra);
    // The throttled address is refused even with the right password: otherwise the answer would reveal it. The
    // guessing above may have ended just as a delay ran out, so first make sure one is running with more than a
    // second left (Retry-After >= 2): a wrong password either is refused with it or is checked and starts a longer one.
    for (let tries = 0; ; tries++) {
      const a = await login(w, 'alice', `guess-more-${tries}`);
      if (a.status === 429 && a.retryAfter >= 2) break;
      assert.ok(tries < 100, `no delay of 2s or more after ${tries} more guesses: ${JSON.stringify(a)}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const right = await login(w, 'alice', USERS.alice);
    assert.equal(right.status, 429);
    assert.deepEqual(JSON.parse(right.body).errors[0].code, 'TOOMANYREQUESTS');
    assert.equal(
      logLines(w, 'this user name reached its limit of failed logins from this address').length,
      1,
      'the start is logged once',
    );
    assert.doesNotMatch(w.output(), /guess-/, 'no password is ever logged');
    const metrics = await (await fetch(metricsUrl)).text();
    const refused = Number(/registry_auth_throttled_total\{reason="pair"\} (\d+)/.exec(metrics)?.[1]);
    assert.ok(refused >= 1000 - 10 - extra, `registry_auth_throttled_total{reason="pair"} ${refused}`);
    assert.match(metrics, /registry_auth_throttle_starts_total\{reason="pair"\} 1\b/);
  });

  test("guessers on 20 addresses against one user never stop that user's own address", async () => {
    // One typo from the user's laptop before the attack: it has failed once, yet is not slowed.
    assert.equal((await login(w, 'victim', 'typo', '127.0.0.4')).status, 401);
    const guessers = Array.from({ length: 20 }, (_, i) => `127.0.1.${i + 1}`);
    let refused = 0;
    // 6 rounds of one guess per address: 120 failures, past the user-wide limit (100), no address at its own (10).
    for (let round = 0; round < 6; round++) {
      for (const g of guessers) {
        const s = (await login(w, 'victim', `r${round}-${g}`, g)).status;
        assert.ok(s === 401 || s === 429, String(s));
        if (s === 429) refused++;
      }
      assert.equal((await login(w, 'victim', USERS.victim, '127.0.0.3')).status, 200, `own address, round ${round}`);
    }
    assert.ok(refused > 0, 'past the user-wide limit, addresses that failed for the user are slowed');
    assert.equal(
      (await login(w, 'victim', USERS.victim, '127.0.0.4')).status,
      200,
      'the laptop with one old typo logs in too',
    );
    assert.ok(logLines(w, 'reached its user-wide limit').length >= 1);
  });

  test('empty or absent credentials (podman and skopeo when not logged in) are a challenge, never a failure', async () => {
    const empty = { Authorization: `Basic ${Buffer.from(':').toString('base64')}` };
    for (let i = 0; i < 30; i++) {
      for (const headers of [empty, {}, { Authorization: 'Basic ' }]) {
        const r = await call(w.url, '/v2/', { headers, from: '127.0.0.6' });
        assert.equal(r.status, 401);
        assert.equal(r.headers['www-authenticate'], 'Basic realm="throttle e2e"');
      }
    }
    for (let i = 0; i < 9; i++) assert.equal((await login(w, 'dave', `w${i}`, '127.0.0.6')).status, 401);
    assert.equal(
      (await login(w, 'dave', USERS.dave, '127.0.0.6')).status,
      200,
      '90 empty logins + 9 failures: still below 10',
    );
  });
});

describe('login throttling with a 1-minute first delay (so that no stall of a loaded machine outlasts it)', () => {
  let w: Wharf;
  before(async () => {
    w = await startThrottled(USERS, 'bruteforce:\n  backoff:\n    initial: 1m\n    max: 1h\n');
  });
  after(async () => {
    await w?.cleanup();
  });

  test('the same stale wrong password sent 100 times counts once', async () => {
    for (let i = 0; i < 100; i++)
      assert.equal((await login(w, 'carol', 'stale-ci-secret', '127.0.0.5')).status, 401, `send ${i + 1}`);
    // 1 (the stale one) + 9 distinct = 10: the limit is reached at the last of them, not before.
    for (let i = 0; i < 9; i++)
      assert.equal((await login(w, 'carol', `other-${i}`, '127.0.0.5')).status, 401, `distinct ${i + 1}`);
    const next = await login(w, 'carol', USERS.carol, '127.0.0.5');
    assert.deepEqual([next.status, next.retryAfter > 50 && next.retryAfter <= 60], [429, true]);
  });

  test('the UI sign-in is throttled like the API', async () => {
    const session = (pw: string, from: string) => call(w.url, '/_ui/api/session', { headers: basic('erin', pw), from });
    for (let i = 0; i < 10; i++) assert.equal((await session(`w${i}`, '127.0.0.10')).status, 401);
    const r = await session(USERS.erin, '127.0.0.10');
    assert.deepEqual(
      [r.status, r.retryAfter > 50 && r.retryAfter <= 60, JSON.parse(r.body).errors[0].code],
      [429, true, 'TOOMANYREQUESTS'],
    );
    assert.equal((await session(USERS.erin, '127.0.0.11')).status, 200);
  });
});

describe('login throttling behind a proxy: http.trustedproxies', () => {
  let w: Wharf;
  before(async () => {
    w = await startThrottled({ frank: 'frank-Pa55' }, 'bruteforce:\n  maxfailures: 3\n  backoff:\n    initial: 1m\n', {
      http: '  trustedproxies: [127.0.0.20]\n',
      accessLog: true,
    });
  });
  after(async () => {
    await w?.cleanup();
  });

  test('X-Forwarded-For from an untrusted peer is ignored: forged addresses still count on the peer', async () => {
    for (let i = 0; i < 3; i++)
      assert.equal(
        (await login(w, 'frank', `w${i}`, '127.0.0.21', { 'X-Forwarded-For': `198.51.100.${i}` })).status,
        401,
      );
    const r = await login(w, 'frank', 'frank-Pa55', '127.0.0.21', {
      'X-Forwarded-For': '198.51.100.99',
      Forwarded: 'for=198.51.100.98',
    });
    assert.equal(r.status, 429);
  });

  test('from a trusted proxy, the right-most untrusted X-Forwarded-For address is the client', async () => {
    const via = (client: string, pw: string) =>
      login(w, 'frank', pw, '127.0.0.20', { 'X-Forwarded-For': `forged-by-client, ${client}` });
    for (let i = 0; i < 3; i++) assert.equal((await via('203.0.113.1', `w${i}`)).status, 401);
    assert.equal((await via('203.0.113.1', 'frank-Pa55')).status, 429, 'that client is throttled');
    assert.equal((await via('203.0.113.2', 'frank-Pa55')).status, 200, 'another client behind the same proxy is not');
    assert.equal((await login(w, 'frank', 'frank-Pa55', '127.0.0.20')).status, 200, 'nor the proxy itself');
    assert.ok(logLines(w, 'remote=203.0.113.2').length >= 1, 'the access log shows the client, not the proxy');
    assert.ok(
      logLines(w, 'remote=203.0.113.1').some((l) => l.includes('reached its limit')),
      'the throttle start names the client address',
    );
  });
});
