/**
 * zod issues -> the one-line problems `wharf serve` and `wharf config check` print: each names its key path and
 * says what to write there. A required key that is missing says what it is for.
 */
import { z } from 'zod';

/** What each required key holds (list indexes as `*`): printed as `<path>: required (<hint>)`. */
const REQUIRED: Record<string, string> = {
  version: 'write version: 0.1 at the top of the file',
  storage: 'one storage driver, e.g. filesystem with rootdirectory: /var/lib/registry',
  'auth.htpasswd.realm': 'the realm name clients are told in the Basic challenge, e.g. basic-realm',
  'auth.htpasswd.path': 'the htpasswd file; create it with `wharf htpasswd -Bc <file> <user>`',
  'auth.silly.realm': 'the absolute URL clients fetch tokens from, e.g. http://localhost:5000/auth/token',
  'auth.token.realm': 'the absolute URL of your token server, e.g. https://auth.example.com/token',
  'auth.token.service': 'the audience your token server puts in "aud"',
  'auth.token.issuer': 'the "iss" your token server puts in its tokens',
  'tokenserver.issuer': 'the "iss" of the tokens it issues; auth.token.issuer must be the same',
  'tokenserver.service': 'the "aud" of the tokens it issues; auth.token.service must be the same',
  'tokenserver.htpasswd': 'the htpasswd file of the users it issues tokens to',
  'tokenserver.key': 'the PEM private key it signs tokens with; created when missing',
  'tokenserver.certificate':
    'the PEM certificate of that key, the one auth.token.rootcertbundle names; created when missing',
  'access.rules.*.accounts': 'who the rule is for: user names, globs, anonymous or group:<name>',
  'storage.s3.region': 'the S3 region, e.g. us-east-1',
  'storage.s3.bucket': 'the S3 bucket name',
  'notifications.endpoints.*.name': 'a name for the endpoint, used in logs and metrics',
};

function get(obj: unknown, path: ReadonlyArray<string | number>): unknown {
  let cur = obj;
  for (const p of path) {
    if (typeof cur !== 'object' || cur === null) return undefined;
    cur = (cur as Record<string, unknown>)[p];
  }
  return cur;
}

function shown(v: unknown): string {
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

function typeOf(v: unknown): string {
  if (v === null) return 'nothing (null)';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return `${typeof v} ${shown(v)}`;
}

const EXPECTED: Record<string, string> = {
  object: 'a mapping',
  array: 'a list',
  string: 'a string',
  number: 'a number',
  boolean: 'true or false',
  integer: 'an integer',
};

/** The types a union would have taken, when every branch failed on the type alone. */
function unionTypes(issue: z.ZodInvalidUnionIssue): string[] | null {
  const issues = issue.unionErrors.flatMap((e) => e.issues);
  const depth = issues[0]?.path.length;
  if (
    !issues.every(
      (i): i is Extract<z.ZodIssue, { code: 'invalid_type' }> =>
        i.code === z.ZodIssueCode.invalid_type && i.path.length === depth,
    )
  )
    return null;
  return [...new Set(issues.map((i) => EXPECTED[i.expected] ?? i.expected))];
}

/** The message for one issue, without its path. `tree` is the configuration as written (after REGISTRY_* overrides). */
export function issueMessage(issue: z.ZodIssue, tree: unknown): string {
  const value = get(tree, issue.path);
  if (
    value === undefined &&
    (issue.code === z.ZodIssueCode.invalid_type || issue.code === z.ZodIssueCode.invalid_union)
  ) {
    const hint = REQUIRED[issue.path.map((p) => (typeof p === 'number' ? '*' : p)).join('.')];
    return hint ? `required (${hint})` : 'required key is missing';
  }
  switch (issue.code) {
    case z.ZodIssueCode.invalid_type:
      if (value === null && issue.expected === 'object') return 'is empty: give it its keys, or remove it';
      return `must be ${EXPECTED[issue.expected] ?? issue.expected}, got ${typeOf(value)}`;
    case z.ZodIssueCode.invalid_enum_value:
      return `must be one of ${issue.options.join(', ')}, got ${shown(value)}`;
    case z.ZodIssueCode.invalid_union: {
      const types = unionTypes(issue);
      if (types) return `must be ${types.join(' or ')}, got ${typeOf(value)}`;
      const first = issue.unionErrors.flatMap((e) => e.issues).find((i) => i.code !== z.ZodIssueCode.invalid_type);
      return first ? first.message : `invalid value ${shown(value)}`;
    }
    default:
      return issue.message;
  }
}
