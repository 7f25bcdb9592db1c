// wharf web UI: a hash-routed page over the registry's own API (/v2/...) and the UI's JSON endpoints (_ui/api/...).
// Every value that comes from the registry is put into the page with textContent or setAttribute on elements made
// here; nothing is ever parsed as HTML. Credentials are kept in this module's memory only: a reload signs out.
// @ts-check

const ds = document.body.dataset;
const API = ds.api ?? '';
const UI_API = `${ds.ui ?? '/_ui/'}api/`;
const MANIFEST_ACCEPT = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');
const INDEX_TYPES = new Set([
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
]);
const IMAGE_CONFIG_TYPES = new Set([
  'application/vnd.oci.image.config.v1+json',
  'application/vnd.docker.container.image.v1+json',
]);

const main = /** @type {HTMLElement} */ (document.getElementById('main'));
const sessionBox = /** @type {HTMLElement} */ (document.getElementById('session'));
const statusBox = /** @type {HTMLElement} */ (document.getElementById('status'));

// ---------------------------------------------------------------------------------------------------------------
// DOM: h('tag', {attrs}, ...children); strings become text nodes.

/**
 * @param {string} tag
 * @param {Record<string, any> | null} [attrs]
 * @param {...any} children
 * @returns {HTMLElement}
 */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'value') /** @type {HTMLInputElement} */ (el).value = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

/** @param {HTMLElement} el @param {any[]} children */
function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** @param {...any} children */
function show(...children) {
  main.replaceChildren();
  append(main, children);
}

/** @param {string} text */
function announce(text) {
  statusBox.textContent = '';
  setTimeout(() => (statusBox.textContent = text), 50);
}

// ---------------------------------------------------------------------------------------------------------------
// Formatting

/** @param {number | null | undefined} n */
function bytes(n) {
  if (typeof n !== 'number' || !Number.isFinite(n)) return '—';
  if (n < 1000) return `${n} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let v = n;
  let i = -1;
  do {
    v /= 1000;
    i++;
  } while (v >= 1000 && i < units.length - 1);
  return `${v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : v.toFixed(0)} ${units[i]}`;
}

/** @param {number | null | undefined} n */
function sizeEl(n) {
  return h(
    'span',
    {
      class: 'size',
      title: typeof n === 'number' ? `${n.toLocaleString('en-US')} bytes` : undefined,
      'data-bytes': typeof n === 'number' ? n : undefined,
    },
    bytes(n),
  );
}

/** @param {string | null | undefined} iso */
function timeEl(iso) {
  if (!iso) return h('span', { class: 'muted' }, '—');
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return h('span', null, String(iso));
  return h(
    'time',
    { datetime: d.toISOString(), title: d.toISOString() },
    d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' }),
  );
}

/** @param {string} digest */
function shortDigest(digest) {
  const i = digest.indexOf(':');
  return i < 0 ? digest : `${digest.slice(0, i + 1)}${digest.slice(i + 1, i + 13)}`;
}

/** @param {string} digest */
function digestEl(digest) {
  return h('code', { class: 'digest', title: digest }, shortDigest(digest));
}

/** @param {any} p */
function platformOf(p) {
  if (!p || typeof p.os !== 'string' || typeof p.architecture !== 'string') return '';
  return `${p.os}/${p.architecture}${typeof p.variant === 'string' && p.variant ? `/${p.variant}` : ''}`;
}

/** @param {string} name */
const repoHref = (name) => `#/${name}`;
/** @param {string} name @param {string} ref */
const refHref = (name, ref) => `#/${name}${ref.includes(':') ? '@' : ':'}${ref}`;

// ---------------------------------------------------------------------------------------------------------------
// Auth: the registry's challenge decides. Basic (htpasswd): the signed-in user's credentials on every request.
// Bearer (token): a token per scope from the realm, with the signed-in user's credentials when there is one.

const auth = {
  /** @type {{auth: string, user: string|null, challenge: string|null, deleteEnabled: boolean} | null} */
  session: null,
  /** @type {'basic' | 'bearer' | null} */
  scheme: null,
  realm: '',
  service: '',
  /** base64 of user:password, in memory only */
  basic: '',
  /** @type {string | null} */
  user: null,
  /** @type {Map<string, {token: string, expires: number}>} scope -> token */
  tokens: new Map(),
};

/** @param {string} header */
function parseChallenge(header) {
  const m = /^\s*(\w+)\s*(.*)$/.exec(header ?? '');
  if (!m) return null;
  /** @type {Record<string, string>} */
  const params = {};
  const re = /(\w+)="((?:[^"\\]|\\.)*)"|(\w+)=([^,\s]*)/g;
  let p;
  while ((p = re.exec(m[2]))) {
    if (p[1]) params[p[1].toLowerCase()] = p[2].replace(/\\(.)/g, '$1');
    else params[p[3].toLowerCase()] = p[4];
  }
  return { scheme: m[1].toLowerCase(), params };
}

/** @param {string} header */
function learnChallenge(header) {
  const c = parseChallenge(header);
  if (!c) return;
  if (c.scheme === 'basic') auth.scheme = 'basic';
  if (c.scheme === 'bearer' && c.params.realm) {
    auth.scheme = 'bearer';
    auth.realm = c.params.realm;
    auth.service = c.params.service ?? '';
  }
  return c;
}

/** @param {string} s */
function base64(s) {
  return btoa(Array.from(new TextEncoder().encode(s), (b) => String.fromCharCode(b)).join(''));
}

/**
 * A token for `scopes` from the realm. With delete enabled, pull on a repository is asked together with delete:
 * the token server grants what the user may, and the UI shows the delete controls when a delete would pass.
 * @param {string[]} scopes
 * @returns {Promise<{ok: true, token: string, expires: number} | {ok: false, status: number, retryAfter?: string}>}
 */
async function fetchToken(scopes) {
  const u = new URL(auth.realm, location.href);
  if (auth.service) u.searchParams.set('service', auth.service);
  for (let s of scopes) {
    if (auth.session?.deleteEnabled) s = s.replace(/^(repository:.+:)pull$/, '$1pull,delete');
    u.searchParams.append('scope', s);
  }
  const r = await fetch(u, {
    credentials: 'omit',
    cache: 'no-store',
    headers: auth.basic ? { Authorization: `Basic ${auth.basic}` } : {},
  });
  if (!r.ok) return { ok: false, status: r.status, retryAfter: r.headers.get('Retry-After') ?? undefined };
  const j = await r.json();
  const token = j.token || j.access_token;
  if (typeof token !== 'string') return { ok: false, status: 500 };
  const ttl = typeof j.expires_in === 'number' ? j.expires_in : 60;
  return { ok: true, token, expires: Date.now() + Math.max(10, ttl - 10) * 1000 };
}

/**
 * fetch() with the session's credentials; a 401 Bearer challenge is answered with a token for its scope and the
 * request retried once. `scope` names the token to try first (the challenge's scope is learnt on a miss).
 * @param {string} url
 * @param {RequestInit & {scope?: string}} [init]
 */
async function request(url, init = {}) {
  const { scope, ...rest } = init;
  const attempt = async () => {
    const headers = new Headers(rest.headers);
    if (auth.scheme === 'basic' && auth.basic) headers.set('Authorization', `Basic ${auth.basic}`);
    if (auth.scheme === 'bearer' && scope) {
      const t = auth.tokens.get(scope);
      if (t && t.expires > Date.now()) headers.set('Authorization', `Bearer ${t.token}`);
    }
    return fetch(url, { ...rest, headers, credentials: 'omit', cache: 'no-store' });
  };
  let r = await attempt();
  if (r.status === 401) {
    const c = learnChallenge(r.headers.get('WWW-Authenticate') ?? '');
    if (c?.scheme === 'bearer' && c.params.realm) {
      const wanted = (c.params.scope ?? '').split(' ').filter(Boolean);
      const t = await fetchToken(wanted);
      if (t.ok) {
        auth.tokens.set(scope ?? wanted.join(' '), { token: t.token, expires: t.expires });
        if (!scope) return r;
        r = await attempt();
      }
    }
  }
  return r;
}

/**
 * GET JSON; the error code of an OCI error body is kept.
 * @param {string} url
 * @param {RequestInit & {scope?: string}} [init]
 * @returns {Promise<{ok: boolean, status: number, code: string, body: any, headers: Headers}>}
 */
async function getJson(url, init = {}) {
  const r = await request(url, init);
  let body = null;
  try {
    body = await r.json();
  } catch {
    /* empty or not JSON */
  }
  const code = !r.ok && body && Array.isArray(body.errors) && body.errors[0] ? String(body.errors[0].code) : '';
  return { ok: r.ok, status: r.status, code, body, headers: r.headers };
}

async function loadSession() {
  const r = await getJson(`${UI_API}session`, { scope: '' });
  if (!r.ok) throw new Error(`session: HTTP ${r.status}`);
  auth.session = r.body;
  if (r.body.challenge) learnChallenge(r.body.challenge);
  renderSession();
}

/**
 * Signs in with the same credentials as `docker login`: checked by the registry (Basic) or the token realm (Bearer).
 * @param {string} user @param {string} password
 * @returns {Promise<string | null>} an error message, or null when signed in
 */
async function signIn(user, password) {
  const creds = base64(`${user}:${password}`);
  /** @type {Record<string, string>} */
  let header;
  if (auth.scheme === 'bearer') {
    const previous = auth.basic;
    auth.basic = creds;
    const t = await fetchToken([]);
    if (!t.ok) {
      auth.basic = previous;
      return t.status === 429
        ? `Too many failed sign-ins: try again in ${t.retryAfter ?? 'a few'} seconds.`
        : 'Wrong user name or password.';
    }
    header = { Authorization: `Bearer ${t.token}` };
  } else {
    header = { Authorization: `Basic ${creds}` };
  }
  const r = await fetch(`${UI_API}session`, { headers: header, credentials: 'omit', cache: 'no-store' });
  if (r.status === 429)
    return `Too many failed sign-ins: try again in ${r.headers.get('Retry-After') ?? 'a few'} seconds.`;
  if (!r.ok) {
    if (auth.scheme === 'bearer') auth.basic = '';
    return 'Wrong user name or password.';
  }
  const s = await r.json();
  auth.basic = creds;
  auth.user = s.user ?? user;
  auth.tokens.clear();
  renderSession();
  return null;
}

function signOut() {
  auth.basic = '';
  auth.user = null;
  auth.tokens.clear();
  renderSession();
  announce('Signed out.');
  route();
}

function renderSession() {
  sessionBox.replaceChildren();
  const s = auth.session;
  if (!s || s.auth === 'none') return;
  if (auth.user) {
    append(sessionBox, [
      h('span', { class: 'who' }, 'Signed in as ', h('strong', null, auth.user)),
      h('button', { type: 'button', class: 'link', onclick: signOut }, 'Sign out'),
    ]);
  } else {
    append(sessionBox, [
      h('a', { href: `#/_login?next=${encodeURIComponent(location.hash)}`, class: 'button' }, 'Sign in'),
    ]);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Shared pieces of the views

/** @param {...any} items [label, href] pairs, the last without href */
function crumbs(...items) {
  return h(
    'nav',
    { 'aria-label': 'Breadcrumb', class: 'crumbs' },
    h(
      'ol',
      null,
      items.map(([label, href]) =>
        h('li', null, href ? h('a', { href }, label) : h('span', { 'aria-current': 'page' }, label)),
      ),
    ),
  );
}

/** @param {string} text */
function title(text) {
  return h('h1', { tabindex: '-1' }, text);
}

/**
 * The empty and error states, each with what to do next.
 * @param {'empty'|'denied'|'login'|'notfound'|'error'} kind @param {string} heading @param {...any} body
 */
function notice(kind, heading, ...body) {
  return h(
    'section',
    { class: `notice notice-${kind}`, role: kind === 'empty' ? null : 'alert', 'data-state': kind },
    h('h2', null, heading),
    body,
  );
}

/** The state for a failed API answer. @param {{status: number, code: string}} r @param {string} what */
function failure(r, what) {
  if (r.status === 401) {
    return notice(
      'login',
      'Sign in required',
      h('p', null, `Sign in to see ${what}.`),
      h('p', null, h('a', { class: 'button', href: `#/_login?next=${encodeURIComponent(location.hash)}` }, 'Sign in')),
    );
  }
  if (r.status === 403) {
    return notice(
      'denied',
      'Access denied',
      h('p', null, auth.user ? `${auth.user} may not see ${what}.` : `Anonymous users may not see ${what}.`),
      auth.user
        ? null
        : h(
            'p',
            null,
            h('a', { class: 'button', href: `#/_login?next=${encodeURIComponent(location.hash)}` }, 'Sign in'),
          ),
    );
  }
  if (r.code === 'NAME_UNKNOWN')
    return notice(
      'notfound',
      'Repository not found',
      h('p', null, `There is no repository here, or it has no tags left.`),
      h('p', null, h('a', { href: '#/' }, 'All repositories')),
    );
  if (r.code === 'MANIFEST_UNKNOWN')
    return notice(
      'notfound',
      'Manifest unknown',
      h('p', null, 'This tag or digest does not exist in the repository (it may have been deleted).'),
    );
  if (r.code === 'NAME_INVALID')
    return notice(
      'notfound',
      'Invalid repository name',
      h('p', null, 'Repository names are lower-case path components such as library/alpine.'),
    );
  return notice(
    'error',
    'Something went wrong',
    h('p', null, `The registry answered HTTP ${r.status}${r.code ? ` (${r.code})` : ''} while loading ${what}.`),
  );
}

/** A copyable command. @param {string} label @param {string} command */
function copyable(label, command) {
  const code = h('code', null, command);
  const button = h(
    'button',
    {
      type: 'button',
      class: 'copy',
      'aria-label': `Copy: ${command}`,
      onclick: async () => {
        try {
          await navigator.clipboard.writeText(command);
        } catch {
          const range = document.createRange();
          range.selectNodeContents(code);
          getSelection()?.removeAllRanges();
          getSelection()?.addRange(range);
          announce('Selected: press Ctrl+C to copy.');
          return;
        }
        button.textContent = 'Copied';
        announce('Copied to the clipboard.');
        setTimeout(() => (button.textContent = 'Copy'), 1500);
      },
    },
    'Copy',
  );
  return h('div', { class: 'cmd' }, h('span', { class: 'cmd-label' }, label), code, button);
}

/** The host clients pull from: http.host when configured, else the address this page was loaded from. */
function pullHost() {
  return ds.host || location.host;
}

/**
 * The pull commands for this registry, matching its scheme: over plain HTTP podman (and skopeo, buildah) refuse
 * every registry, localhost included, without `--tls-verify=false`; docker accepts plain HTTP only from 127.0.0.0/8
 * by itself, so elsewhere it needs the registry in `insecure-registries`.
 * @param {string} name @param {string} ref
 */
function pullCommands(name, ref) {
  const host = pullHost();
  const image = `${host}/${name}${ref.includes(':') ? '@' : ':'}${ref}`;
  const plain = location.protocol === 'http:';
  const loopback = /^(localhost|127\.|\[::1\])/.test(host);
  return h(
    'section',
    { class: 'pull', 'aria-labelledby': 'pull-h' },
    h('h2', { id: 'pull-h' }, 'Pull'),
    copyable('Docker', `docker pull ${image}`),
    copyable('Podman', `podman pull ${plain ? '--tls-verify=false ' : ''}${image}`),
    plain && !loopback
      ? h(
          'p',
          { class: 'muted hint' },
          'This registry speaks plain HTTP: Docker pulls from it only once ',
          h('code', null, `"insecure-registries": ["${host}"]`),
          ' is in /etc/docker/daemon.json (then restart dockerd).',
        )
      : null,
  );
}

/**
 * Asks for confirmation in a modal dialog. @param {string} heading @param {string} text
 * @returns {Promise<boolean>}
 */
function confirmDialog(heading, text) {
  const dialog = /** @type {HTMLDialogElement} */ (document.getElementById('confirm'));
  /** @type {HTMLElement} */ (document.getElementById('confirm-title')).textContent = heading;
  /** @type {HTMLElement} */ (document.getElementById('confirm-text')).textContent = text;
  dialog.returnValue = '';
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true });
    dialog.showModal();
  });
}

/**
 * DELETE /v2/<name>/manifests/<ref> after confirmation; resolves true when deleted.
 * @param {string} name @param {string} ref @param {string} what
 */
async function deleteReference(name, ref, what) {
  const ok = await confirmDialog(
    `Delete ${what}?`,
    ref.includes(':')
      ? `This deletes manifest ${ref} from ${name} and every tag that points at it. This cannot be undone.`
      : `This deletes tag ${ref} from ${name}. The manifest stays reachable by digest. This cannot be undone.`,
  );
  if (!ok) return false;
  const r = await request(`${API}/v2/${name}/manifests/${ref}`, { method: 'DELETE', scope: `repository:${name}:pull` });
  if (r.status === 202) {
    announce(`Deleted ${what}.`);
    return true;
  }
  const body = await r.json().catch(() => null);
  const code = body?.errors?.[0]?.code ?? '';
  const message =
    code === 'DENIED' && typeof body?.errors?.[0]?.message === 'string' ? ` ${body.errors[0].message}` : '';
  announce(`Could not delete ${what}: HTTP ${r.status} ${code}`);
  alertBox(`Could not delete ${what}: the registry answered HTTP ${r.status}${code ? ` (${code})` : ''}.${message}`);
  return false;
}

/** @param {string} text */
function alertBox(text) {
  main.prepend(h('p', { class: 'notice notice-error', role: 'alert' }, text));
}

/** @param {string} caption @param {any[]} headers @param {Node[]} rows (the table's rows, `tr` elements) */
function table(caption, headers, rows, attrs = {}) {
  return h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      attrs,
      h('caption', { class: 'visually-hidden' }, caption),
      h(
        'thead',
        null,
        h(
          'tr',
          null,
          headers.map((x) => (x instanceof Node ? x : h('th', { scope: 'col' }, x))),
        ),
      ),
      h('tbody', null, rows),
    ),
  );
}

// ---------------------------------------------------------------------------------------------------------------
// Views

/** @param {URLSearchParams} q */
async function viewRepositories(q) {
  const query = q.get('q') ?? '';
  const page = Number(q.get('page') ?? '1') || 1;
  const results = h('div', { id: 'results' });
  const input = /** @type {HTMLInputElement} */ (
    h('input', {
      type: 'search',
      id: 'q',
      name: 'q',
      value: query,
      autocomplete: 'off',
      spellcheck: 'false',
      placeholder: 'e.g. library/alpine',
    })
  );
  let timer = 0;
  const search = (/** @type {number} */ p) => {
    const params = new URLSearchParams();
    if (input.value.trim()) params.set('q', input.value.trim());
    if (p > 1) params.set('page', String(p));
    const hash = `#/${params.size ? `?${params}` : ''}`;
    history.replaceState(null, '', hash);
    void loadRepositories(results, input.value.trim(), p);
  };
  input.addEventListener('input', () => {
    clearTimeout(timer);
    timer = window.setTimeout(() => search(1), 250);
  });
  const form = h(
    'form',
    {
      role: 'search',
      class: 'search',
      onsubmit: (/** @type {Event} */ e) => {
        e.preventDefault();
        clearTimeout(timer);
        search(1);
      },
    },
    h('label', { for: 'q' }, 'Search repositories'),
    input,
  );
  show(title('Repositories'), form, results);
  await loadRepositories(results, query, page);
}

/** @param {HTMLElement} results @param {string} query @param {number} page */
async function loadRepositories(results, query, page) {
  results.setAttribute('aria-busy', 'true');
  const params = new URLSearchParams({ page: String(page) });
  if (query) params.set('q', query);
  const r = await getJson(`${UI_API}repositories?${params}`, { scope: 'registry:catalog:*' });
  results.removeAttribute('aria-busy');
  if (!r.ok) {
    results.replaceChildren(failure(r, 'the list of repositories'));
    if (r.status === 403) results.append(openByName());
    return;
  }
  const { repositories, total, pages } = r.body;
  if (total === 0) {
    results.replaceChildren(
      query
        ? notice('empty', 'No match', h('p', null, `No repository name contains “${query}”.`))
        : notice(
            'empty',
            'No repositories yet',
            h('p', null, 'Push an image to see it here:'),
            h(
              'pre',
              null,
              h(
                'code',
                null,
                `docker tag alpine ${pullHost()}/library/alpine:latest\ndocker push ${pullHost()}/library/alpine:latest`,
              ),
            ),
          ),
    );
    return;
  }
  const rows = repositories.map((/** @type {any} */ repo) =>
    h(
      'tr',
      null,
      h('th', { scope: 'row' }, h('a', { href: repoHref(repo.name) }, repo.name), cachedMark(repo.cachedFrom)),
      h('td', { class: 'num' }, String(repo.tags)),
      h('td', null, timeEl(repo.pushed)),
    ),
  );
  const nav = h(
    'nav',
    { class: 'pager', 'aria-label': 'Pages' },
    page > 1
      ? h('a', { href: pageHref(query, page - 1), rel: 'prev' }, '← Previous')
      : h('span', { class: 'muted' }, '← Previous'),
    h('span', null, `Page ${r.body.page} of ${pages} · ${total} ${total === 1 ? 'repository' : 'repositories'}`),
    page < pages
      ? h('a', { href: pageHref(query, page + 1), rel: 'next' }, 'Next →')
      : h('span', { class: 'muted' }, 'Next →'),
  );
  // replaceChildren() would render a null as the text "null": only the pager when there is more than one page.
  results.replaceChildren(
    table('Repositories', ['Repository', 'Tags', 'Last push'], rows, { class: 'repos' }),
    ...(pages > 1 ? [nav] : []),
  );
}

/** @param {string} query @param {number} page */
function pageHref(query, page) {
  const p = new URLSearchParams();
  if (query) p.set('q', query);
  p.set('page', String(page));
  return `#/?${p}`;
}

function openByName() {
  const input = h('input', {
    id: 'open-name',
    name: 'name',
    required: true,
    autocomplete: 'off',
    spellcheck: 'false',
    placeholder: 'e.g. team/app',
  });
  return h(
    'form',
    {
      class: 'search',
      onsubmit: (/** @type {Event} */ e) => {
        e.preventDefault();
        location.hash = repoHref(/** @type {HTMLInputElement} */ (input).value.trim());
      },
    },
    h('label', { for: 'open-name' }, 'Open a repository by name'),
    h('div', { class: 'row' }, input, h('button', { type: 'submit' }, 'Open')),
  );
}

/** @param {string} name @param {URLSearchParams} q */
/** The mark of a repository the pull-through cache fills from `upstream` (a URL), or nothing. */
function cachedMark(/** @type {string | null} */ upstream) {
  return upstream
    ? h('span', { class: 'cached', title: `Pull-through cache of ${upstream}` }, ` cache of ${upstream}`)
    : null;
}

/** @param {string} name @param {URLSearchParams} q */
async function viewRepository(name, q) {
  show(crumbs(['Repositories', '#/'], [name]), title(name), h('p', { class: 'muted' }, 'Loading tags…'));
  const r = await getJson(`${UI_API}tags?repository=${encodeURIComponent(name)}`, { scope: `repository:${name}:pull` });
  if (!r.ok) {
    show(crumbs(['Repositories', '#/'], [name]), title(name), failure(r, `repository ${name}`));
    return;
  }
  /** @type {any[]} */
  const tags = r.body.tags;
  const mayDelete = !!r.body.mayDelete && !r.body.cachedFrom;
  let sort = q.get('sort') === 'date' ? 'date' : 'name';
  const body = h('div');
  const render = () => {
    const sorted = [...tags].sort(
      sort === 'date'
        ? (a, b) => String(b.pushed ?? '').localeCompare(String(a.pushed ?? '')) || a.tag.localeCompare(b.tag)
        : (a, b) => a.tag.localeCompare(b.tag),
    );
    const sortButton = (/** @type {string} */ key, /** @type {string} */ label) =>
      h(
        'th',
        { scope: 'col', 'aria-sort': sort === key ? (key === 'date' ? 'descending' : 'ascending') : 'none' },
        h(
          'button',
          {
            type: 'button',
            class: 'sort',
            'data-sort': key,
            onclick: () => {
              sort = key;
              history.replaceState(null, '', `${repoHref(name)}${key === 'date' ? '?sort=date' : ''}`);
              render();
              /** @type {HTMLElement | null} */ (body.querySelector(`[data-sort="${key}"]`))?.focus();
            },
          },
          label,
          h(
            'span',
            { 'aria-hidden': 'true', class: 'sort-mark' },
            sort === key ? (key === 'date' ? ' ↓' : ' ↑') : ' ↕',
          ),
        ),
      );
    const rows = sorted.map((t) =>
      h(
        'tr',
        { 'data-tag': t.tag },
        h('th', { scope: 'row' }, h('a', { href: refHref(name, t.tag) }, t.tag)),
        h('td', null, digestEl(t.digest)),
        h('td', { class: 'num' }, sizeEl(t.size)),
        h(
          'td',
          { class: 'platforms' },
          t.platforms.length
            ? t.platforms.join(', ')
            : t.artifactType
              ? h('span', { class: 'muted' }, t.artifactType)
              : '—',
        ),
        h('td', null, timeEl(t.pushed)),
        mayDelete
          ? h(
              'td',
              null,
              h(
                'button',
                {
                  type: 'button',
                  class: 'danger small',
                  'aria-label': `Delete tag ${t.tag}`,
                  onclick: async () => {
                    if (await deleteReference(name, t.tag, `tag ${t.tag}`)) {
                      tags.splice(tags.indexOf(t), 1);
                      render();
                    }
                  },
                },
                'Delete',
              ),
            )
          : null,
      ),
    );
    body.replaceChildren(
      tags.length === 0
        ? notice(
            'empty',
            'No tags',
            h('p', null, 'This repository has no tags. Its manifests are still reachable by digest.'),
          )
        : table(
            `Tags of ${name}`,
            [
              sortButton('name', 'Tag'),
              'Digest',
              'Size',
              'Platforms',
              sortButton('date', 'Pushed'),
              mayDelete ? h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Actions')) : null,
            ].filter(Boolean),
            rows,
            { class: 'tags' },
          ),
    );
  };
  render();
  show(
    crumbs(['Repositories', '#/'], [name]),
    title(name),
    h(
      'p',
      { class: 'muted' },
      `${tags.length} ${tags.length === 1 ? 'tag' : 'tags'}`,
      r.body.cachedFrom ? ` · cached from ${r.body.cachedFrom} (pull-through, read-only)` : '',
    ),
    body,
    lifecyclePanel(name),
  );
}

/**
 * The cleanup preview (GET _ui/api/lifecycle): what the lifecycle rules would untag and delete here, the bytes that
 * frees, and the bytes each tag holds alone. Loaded when opened: the server scans the whole registry for it.
 * @param {string} name
 */
function lifecyclePanel(name) {
  const content = h('div', { class: 'lifecycle-body' }, h('p', { class: 'muted' }, 'Loading…'));
  const panel = h('details', { class: 'lifecycle', id: 'lifecycle' }, h('summary', null, 'Cleanup preview'), content);
  let loaded = false;
  panel.addEventListener('toggle', async () => {
    if (!(/** @type {HTMLDetailsElement} */ (panel).open) || loaded) return;
    loaded = true;
    const r = await getJson(`${UI_API}lifecycle?repository=${encodeURIComponent(name)}`, {
      scope: `repository:${name}:pull`,
    });
    if (!r.ok) {
      content.replaceChildren(failure(r, 'the cleanup preview'));
      return;
    }
    const p = r.body;
    const untag = new Set(p.untag.map((/** @type {any} */ t) => t.tag));
    const later = new Set(p.deferred.map((/** @type {any} */ t) => t.tag));
    const verdict = (/** @type {any} */ t) =>
      t.immutable
        ? 'immutable, kept'
        : untag.has(t.tag)
          ? 'untagged'
          : later.has(t.tag)
            ? 'untagged in a later run (pushed within the grace period)'
            : 'kept';
    const rows = p.tags.map((/** @type {any} */ t) =>
      h(
        'tr',
        { 'data-tag': t.tag, 'data-cleanup': verdict(t) },
        h('th', { scope: 'row' }, t.tag),
        h('td', { class: 'num' }, sizeEl(t.alone)),
        h('td', null, verdict(t)),
      ),
    );
    const summary = p.rule
      ? h(
          'p',
          { class: 'lifecycle-summary' },
          `Rule policies[${p.rule.index}] (${p.rule.repositories.join(', ')}): a cleanup run would untag ${p.untag.length} ${p.untag.length === 1 ? 'tag' : 'tags'} and delete ${p.deleteManifests.length} ${p.deleteManifests.length === 1 ? 'manifest' : 'manifests'}, freeing `,
          sizeEl(p.bytesFreed),
          '.',
        )
      : h('p', { class: 'lifecycle-summary' }, 'No lifecycle rule governs this repository: cleanup keeps all of it.');
    content.replaceChildren(
      summary,
      table(`Cleanup preview of ${name}`, ['Tag', 'Held alone', 'Cleanup'], rows, { class: 'tags lifecycle-tags' }),
    );
  });
  return panel;
}

/** @param {string} name @param {string} ref tag or digest */
async function viewImage(name, ref) {
  const label = ref.includes(':') ? `${name}@${shortDigest(ref)}` : `${name}:${ref}`;
  const head = () => [
    crumbs(['Repositories', '#/'], [name, repoHref(name)], [ref.includes(':') ? shortDigest(ref) : ref]),
    title(label),
  ];
  show(head(), h('p', { class: 'muted' }, 'Loading manifest…'));
  const scope = `repository:${name}:pull`;
  const r = await request(`${API}/v2/${name}/manifests/${ref}`, { headers: { Accept: MANIFEST_ACCEPT }, scope });
  if (!r.ok) {
    const body = await r.json().catch(() => null);
    show(head(), failure({ status: r.status, code: body?.errors?.[0]?.code ?? '' }, label));
    return;
  }
  const raw = await r.text();
  /** @type {any} */
  let m;
  try {
    m = JSON.parse(raw);
  } catch {
    show(head(), notice('error', 'Unreadable manifest', h('p', null, 'The manifest is not JSON.')));
    return;
  }
  const digest = r.headers.get('Docker-Content-Digest') ?? (await sha256(raw));
  const mediaType = m.mediaType || (r.headers.get('Content-Type') ?? '').split(';')[0];
  const perms = await getJson(`${UI_API}permissions?repository=${encodeURIComponent(name)}`, { scope });
  const mayDelete = perms.ok && perms.body.delete;

  const facts = h('dl', { class: 'facts' });
  const fact = (/** @type {string} */ k, /** @type {any} */ v) => append(facts, [h('dt', null, k), h('dd', null, v)]);
  fact('Digest', h('code', { class: 'digest-full' }, digest));
  fact('Media type', h('code', null, mediaType));
  if (m.artifactType) fact('Artifact type', h('code', null, m.artifactType));
  if (m.subject?.digest) fact('Subject', h('a', { href: refHref(name, m.subject.digest) }, digestEl(m.subject.digest)));
  const totalSlot = h('span', null, '…');
  fact('Total size', totalSlot);

  const sections = [];
  const deleteButton = mayDelete
    ? h(
        'button',
        {
          type: 'button',
          class: 'danger',
          onclick: async () => {
            if (await deleteReference(name, digest, `manifest ${shortDigest(digest)}`)) location.hash = repoHref(name);
          },
        },
        'Delete manifest',
      )
    : null;

  if (INDEX_TYPES.has(mediaType) || Array.isArray(m.manifests)) {
    /** @type {any[]} */
    const children = m.manifests ?? [];
    const sizes = await Promise.all(children.map((c) => childImage(name, c.digest)));
    const blobs = new Map();
    sizes.forEach((s) => s?.blobs.forEach((/** @type {number} */ v, /** @type {string} */ k) => blobs.set(k, v)));
    totalSlot.replaceWith(sizeEl(sum(blobs)));
    const platforms = children
      .map((c, i) => platformOf(c.platform) || sizes[i]?.platform || '')
      .filter((p) => p && p !== 'unknown/unknown');
    fact('Platforms', platforms.length ? platforms.join(', ') : '—');
    const rows = children.map((c, i) => {
      const attestation = c.annotations?.['vnd.docker.reference.type'];
      return h(
        'tr',
        null,
        h(
          'th',
          { scope: 'row' },
          platformOf(c.platform) ||
            sizes[i]?.platform ||
            h('span', { class: 'muted' }, attestation ? `attestation (${attestation})` : 'unknown'),
        ),
        h('td', null, h('a', { href: refHref(name, c.digest) }, digestEl(c.digest))),
        h('td', null, h('code', null, c.mediaType ?? '')),
        h('td', { class: 'num' }, sizeEl(sizes[i] ? sum(sizes[i].blobs) : null)),
      );
    });
    sections.push(
      h(
        'section',
        { 'aria-labelledby': 'plat-h' },
        h('h2', { id: 'plat-h' }, 'Platforms'),
        table('Platforms', ['Platform', 'Manifest', 'Media type', 'Size'], rows, { class: 'platforms-table' }),
      ),
    );
  } else {
    /** @type {any[]} */
    const layers = m.layers ?? [];
    const blobs = new Map();
    if (m.config?.digest) blobs.set(m.config.digest, m.config.size);
    layers.forEach((l) => blobs.set(l.digest, l.size));
    totalSlot.replaceWith(sizeEl(sum(blobs)));
    let config = null;
    if (m.config && IMAGE_CONFIG_TYPES.has(m.config.mediaType) && m.config.size <= 1024 * 1024) {
      // A blob GET may redirect to storage the page may not connect to (S3): then the UI endpoint reads it.
      const c = await request(`${API}/v2/${name}/blobs/${m.config.digest}`, { scope }).catch(() => null);
      if (c?.ok) config = await c.json().catch(() => null);
      if (!config) {
        const f = await getJson(
          `${UI_API}config?repository=${encodeURIComponent(name)}&digest=${encodeURIComponent(m.config.digest)}`,
          { scope },
        );
        if (f.ok) config = f.body;
      }
    }
    if (config) {
      const p = platformOf(config);
      if (p) fact('Platform', p);
      if (config.created) fact('Created', timeEl(config.created));
      sections.push(configSection(config));
    } else if (m.config) {
      fact('Config media type', h('code', null, m.config.mediaType));
    }
    const rows = layers.map((l, i) =>
      h(
        'tr',
        null,
        h('td', { class: 'num' }, String(i + 1)),
        h('td', null, h('code', null, l.mediaType)),
        h('td', { class: 'num' }, sizeEl(l.size)),
        h('td', null, digestEl(l.digest)),
      ),
    );
    sections.push(
      h(
        'section',
        { 'aria-labelledby': 'layers-h' },
        h('h2', { id: 'layers-h' }, `Layers (${layers.length})`),
        layers.length
          ? table('Layers', ['#', 'Media type', 'Size', 'Digest'], rows, { class: 'layers' })
          : h('p', { class: 'muted' }, 'No layers.'),
      ),
    );
    if (config?.history?.length) sections.push(historySection(config.history));
  }
  if (m.annotations && Object.keys(m.annotations).length)
    sections.push(keyValues('Annotations', 'annotations', m.annotations));
  sections.push(await referrersSection(name, digest, scope));

  show(
    head(),
    pullCommands(name, ref),
    h('section', { 'aria-labelledby': 'sum-h' }, h('h2', { id: 'sum-h', class: 'visually-hidden' }, 'Summary'), facts),
    deleteButton ? h('div', { class: 'actions' }, deleteButton) : null,
    sections,
  );
}

/** @param {Map<string, number>} blobs */
function sum(blobs) {
  let t = 0;
  for (const v of blobs.values()) t += typeof v === 'number' ? v : 0;
  return t;
}

/**
 * A child of an index: its blobs (for sizes) and platform (from its config when the index has none).
 * @param {string} name @param {string} digest
 */
async function childImage(name, digest) {
  const r = await request(`${API}/v2/${name}/manifests/${digest}`, {
    headers: { Accept: MANIFEST_ACCEPT },
    scope: `repository:${name}:pull`,
  });
  if (!r.ok) return null;
  const m = await r.json().catch(() => null);
  if (!m) return null;
  const blobs = new Map();
  if (m.config?.digest) blobs.set(m.config.digest, m.config.size);
  for (const l of m.layers ?? []) blobs.set(l.digest, l.size);
  return { blobs, platform: '' };
}

/** @param {string} text */
async function sha256(text) {
  const d = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text));
  return `sha256:${Array.from(new Uint8Array(d), (b) => b.toString(16).padStart(2, '0')).join('')}`;
}

/** @param {any} config */
function configSection(config) {
  const c = config.config ?? {};
  const dl = h('dl', { class: 'facts' });
  const fact = (/** @type {string} */ k, /** @type {any} */ v) =>
    v !== undefined && v !== null && v !== '' && append(dl, [h('dt', null, k), h('dd', null, v)]);
  const list = (/** @type {any} */ v) => (Array.isArray(v) && v.length ? h('code', null, JSON.stringify(v)) : null);
  fact('Entrypoint', list(c.Entrypoint));
  fact('Cmd', list(c.Cmd));
  fact('Working dir', c.WorkingDir ? h('code', null, c.WorkingDir) : null);
  fact('User', c.User ? h('code', null, c.User) : null);
  if (c.ExposedPorts) fact('Exposed ports', Object.keys(c.ExposedPorts).join(', '));
  if (config.author) fact('Author', config.author);
  const parts = [
    h('h2', { id: 'config-h' }, 'Configuration'),
    dl.childElementCount ? dl : h('p', { class: 'muted' }, 'No entrypoint, command, working directory or user set.'),
  ];
  if (Array.isArray(c.Env) && c.Env.length) {
    parts.push(
      h('h3', null, 'Environment'),
      h(
        'ul',
        { class: 'env' },
        c.Env.map((/** @type {string} */ e) => h('li', null, h('code', null, String(e)))),
      ),
    );
  }
  if (c.Labels && typeof c.Labels === 'object' && Object.keys(c.Labels).length)
    parts.push(keyValues('Labels', 'labels', c.Labels, 'h3'));
  return h('section', { 'aria-labelledby': 'config-h' }, parts);
}

/** @param {string} heading @param {string} cls @param {Record<string, any>} obj */
function keyValues(heading, cls, obj, level = 'h2') {
  const rows = Object.keys(obj)
    .sort()
    .map((k) => h('tr', null, h('th', { scope: 'row' }, h('code', null, k)), h('td', null, String(obj[k]))));
  const el = table(heading, ['Key', 'Value'], rows, { class: `kv ${cls}` });
  return level === 'h2' ? h('section', null, h('h2', null, heading), el) : h('div', null, h(level, null, heading), el);
}

/** @param {any[]} history */
function historySection(history) {
  const rows = history.map((e) =>
    h(
      'tr',
      null,
      h('td', null, timeEl(e.created)),
      h('td', null, h('code', { class: 'wrap' }, String(e.created_by ?? e.comment ?? ''))),
      h('td', null, e.empty_layer ? h('span', { class: 'muted' }, 'no layer') : 'layer'),
    ),
  );
  return h(
    'section',
    { 'aria-labelledby': 'hist-h' },
    h('h2', { id: 'hist-h' }, `History (${history.length})`),
    table('History', ['Created', 'Command', 'Layer'], rows, { class: 'history' }),
  );
}

/** @param {string} name @param {string} digest @param {string} scope */
async function referrersSection(name, digest, scope) {
  const heading = h('h2', { id: 'ref-h' }, 'Referrers');
  const explain = h(
    'p',
    { class: 'muted' },
    'Signatures, SBOMs, attestations and other artifacts whose subject is this manifest.',
  );
  const r = await getJson(`${API}/v2/${name}/referrers/${digest}`, { scope });
  if (!r.ok)
    return h(
      'section',
      { 'aria-labelledby': 'ref-h' },
      heading,
      h('p', { class: 'muted' }, `Referrers are not available (HTTP ${r.status}).`),
    );
  /** @type {any[]} */
  const list = r.body?.manifests ?? [];
  if (list.length === 0)
    return h(
      'section',
      { 'aria-labelledby': 'ref-h' },
      heading,
      explain,
      h('p', { class: 'empty', 'data-state': 'empty' }, 'No referrers.'),
    );
  const rows = list.map((d) =>
    h(
      'tr',
      null,
      h('th', { scope: 'row' }, h('code', null, String(d.artifactType ?? '(none)'))),
      h('td', null, h('a', { href: refHref(name, d.digest) }, digestEl(d.digest))),
      h('td', null, h('code', null, String(d.mediaType ?? ''))),
      h('td', { class: 'num' }, sizeEl(d.size)),
      h('td', null, timeEl(d.annotations?.['org.opencontainers.image.created'])),
    ),
  );
  return h(
    'section',
    { 'aria-labelledby': 'ref-h' },
    heading,
    explain,
    table('Referrers', ['Artifact type', 'Manifest', 'Media type', 'Size', 'Created'], rows, { class: 'referrers' }),
  );
}

/** @param {URLSearchParams} q */
function viewLogin(q) {
  const next = q.get('next') || '#/';
  const error = h('p', { id: 'login-error', class: 'error', role: 'alert' });
  const user = /** @type {HTMLInputElement} */ (
    h('input', {
      id: 'login-user',
      name: 'username',
      autocomplete: 'username',
      required: true,
      spellcheck: 'false',
      autocapitalize: 'none',
    })
  );
  const password = /** @type {HTMLInputElement} */ (
    h('input', {
      id: 'login-password',
      name: 'password',
      type: 'password',
      autocomplete: 'current-password',
      required: true,
    })
  );
  const submit = h('button', { type: 'submit' }, 'Sign in');
  const form = h(
    'form',
    {
      class: 'login',
      'aria-describedby': 'login-help',
      onsubmit: async (/** @type {Event} */ e) => {
        e.preventDefault();
        submit.setAttribute('disabled', '');
        error.textContent = '';
        const message = await signIn(user.value, password.value).catch(() => 'The registry could not be reached.');
        submit.removeAttribute('disabled');
        password.value = '';
        if (message) {
          error.textContent = message;
          password.focus();
          return;
        }
        announce(`Signed in as ${auth.user}.`);
        location.hash = next.startsWith('#/') && !next.startsWith('#/_login') ? next : '#/';
      },
    },
    h('label', { for: 'login-user' }, 'User name'),
    user,
    h('label', { for: 'login-password' }, 'Password'),
    password,
    error,
    submit,
  );
  show(
    title('Sign in'),
    h(
      'p',
      { id: 'login-help', class: 'muted' },
      'Use the same user name and password as for docker login. They stay in this tab’s memory until you sign out or reload.',
    ),
    form,
  );
  user.focus();
}

// ---------------------------------------------------------------------------------------------------------------
// Routing: #/ (repositories), #/<name> (tags), #/<name>:<tag> and #/<name>@<digest> (image), #/_login.
// Repository names cannot contain ':' or '@' nor start with '_', so these never collide.

let generation = 0;

async function route() {
  const mine = ++generation;
  main.removeAttribute('data-ready');
  const raw = location.hash.replace(/^#/, '') || '/';
  const qi = raw.indexOf('?');
  let path = qi < 0 ? raw : raw.slice(0, qi);
  const q = new URLSearchParams(qi < 0 ? '' : raw.slice(qi + 1));
  try {
    path = decodeURIComponent(path);
  } catch {
    /* keep as is */
  }
  path = path.replace(/^\/+/, '').replace(/\/+$/, '');
  try {
    if (path === '') await viewRepositories(q);
    else if (path === '_login') viewLogin(q);
    else if (path.includes('@')) await viewImage(path.slice(0, path.indexOf('@')), path.slice(path.indexOf('@') + 1));
    else if (path.includes(':'))
      await viewImage(path.slice(0, path.lastIndexOf(':')), path.slice(path.lastIndexOf(':') + 1));
    else await viewRepository(path, q);
  } catch (err) {
    if (mine !== generation) return;
    show(notice('error', 'Something went wrong', h('p', null, err instanceof Error ? err.message : String(err))));
  }
  if (mine !== generation) return;
  const h1 = main.querySelector('h1');
  if (h1 && path !== '_login' && document.activeElement?.id !== 'q') h1.focus({ preventScroll: true });
  document.title = `${h1?.textContent ?? 'wharf'} · wharf`;
  main.setAttribute('data-ready', location.hash || '#/');
}

window.addEventListener('hashchange', () => void route());
// The skip link must not change the hash (that is the router's).
document.querySelector('.skip')?.addEventListener('click', (e) => {
  e.preventDefault();
  main.focus();
});
loadSession()
  .catch(() => {
    auth.session = { auth: 'none', user: null, challenge: null, deleteEnabled: false };
  })
  .then(route);
