/**
 * Access rules (`access:` in config.yml, wharf only): ordered rules matching an account and a repository,
 * granting actions. The first rule that matches both the account and the repository decides; no match denies.
 *
 *   accounts:     user names, globs (`ci-*`; `*` is any authenticated user), `anonymous`, or `group:<name>`
 *   repositories: globs over repository names: `*` within one path component, `**` across components,
 *                 `${account}` is the caller's user name (`${account}/**` is the user's own namespace)
 *   actions:      pull, push, delete, `overwrite`, or `*` (every action but overwrite)
 *   overwrite:    may move or delete tags that `policies[].immutable` protects; never implied by `*`, because
 *                 immutability is a promise to every puller that a broad grant should not break by accident
 *   catalog:      true/false: whether the account may list the catalog (decided by the first matching rule
 *                 that sets it); the catalog then shows only repositories the caller may pull.
 */
import type { Access } from './access.js';
import { denied, type AccessController, type AuthResult } from './controller.js';

export interface AccessRule {
  accounts: readonly string[];
  repositories: readonly string[];
  actions: readonly string[];
  catalog?: boolean;
}

export interface AccessRulesConfig {
  groups: Readonly<Record<string, readonly string[]>>;
  rules: readonly AccessRule[];
}

/** The caller: a user name, or null for anonymous (so is "": the `sub` of anonymous tokens). */
export type Account = string | null;

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Glob -> RegExp: `**` any characters, `*` any characters but '/'. */
export function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    if (glob[i] === '*' && glob[i + 1] === '*') {
      re += '.*';
      i++;
    } else if (glob[i] === '*') re += '[^/]*';
    else re += escapeRegExp(glob[i]);
  }
  return new RegExp(`^${re}$`);
}

interface CompiledRule {
  matchesAccount(account: Account): boolean;
  repositories: Array<(account: Account) => RegExp | null>;
  actions: Set<string>;
  catalog?: boolean;
}

export class AccessPolicy {
  private rules: CompiledRule[];

  constructor(cfg: AccessRulesConfig) {
    this.rules = cfg.rules.map((r) => this.compile(r, cfg.groups));
  }

  /** Replaces the rules (SIGHUP); a request already past authorization keeps the decision it got. */
  replace(cfg: AccessRulesConfig): void {
    this.rules = cfg.rules.map((r) => this.compile(r, cfg.groups));
  }

  private compile(rule: AccessRule, groups: AccessRulesConfig['groups']): CompiledRule {
    const matchers = rule.accounts.map((a): ((account: Account) => boolean) => {
      if (a === 'anonymous') return (acc) => !acc;
      if (a.startsWith('group:')) {
        const members = (groups[a.slice(6)] ?? []).map((m) => globToRegExp(m));
        return (acc) => !!acc && members.some((m) => m.test(acc));
      }
      const re = globToRegExp(a);
      return (acc) => !!acc && re.test(acc);
    });
    const repositories = rule.repositories.map((g) => {
      if (!g.includes('${account}')) {
        const re = globToRegExp(g);
        return () => re;
      }
      const [before, ...rest] = g.split('${account}');
      return (account: Account) => {
        if (!account) return null;
        // The account is literal text in the pattern, never a glob of its own.
        const parts = [before, ...rest].map((p) => globToRegExp(p).source.slice(1, -1));
        return new RegExp(`^${parts.join(escapeRegExp(account))}$`);
      };
    });
    return {
      matchesAccount: (acc) => matchers.some((m) => m(acc)),
      repositories,
      actions: new Set(rule.actions),
      catalog: rule.catalog,
    };
  }

  /** The actions `account` may take on repository `name` (empty when denied). */
  actionsOn(account: Account, name: string): Set<string> {
    for (const rule of this.rules) {
      if (!rule.matchesAccount(account)) continue;
      if (rule.repositories.some((r) => r(account)?.test(name))) return rule.actions;
    }
    return new Set();
  }

  mayListCatalog(account: Account): boolean {
    for (const rule of this.rules) {
      if (rule.catalog !== undefined && rule.matchesAccount(account)) return rule.catalog;
    }
    return false;
  }

  allows(account: Account, a: Access): boolean {
    if (a.type === 'registry') return a.name === 'catalog' && this.mayListCatalog(account);
    if (a.type !== 'repository') return false;
    const actions = this.actionsOn(account, a.name);
    return actions.has(a.action) || (actions.has('*') && a.action !== 'overwrite');
  }

  /** Whether `account` may move or delete an immutable tag in repository `name` (the `overwrite` action). */
  mayOverwrite(account: Account, name: string): boolean {
    return this.actionsOn(account, name).has('overwrite');
  }

  allowsAll(account: Account, access: Access[]): boolean {
    return access.every((a) => this.allows(account, a));
  }
}

/**
 * Puts the access rules in front of an auth method: the method says who the caller is (or refuses), the rules
 * say what that caller may do. Authenticated but not allowed -> 403 DENIED; no credentials and the rules allow
 * anonymous -> granted; no credentials otherwise -> the method's challenge (so clients log in).
 */
export function withPolicy(inner: AccessController, policy: AccessPolicy): AccessController {
  return {
    name: inner.name,
    readsAll: false,
    policy,
    reload: inner.reload?.bind(inner),
    close: inner.close?.bind(inner),
    async authorize(req, access): Promise<AuthResult> {
      const r = await inner.authorize(req, access);
      // Token servers (ours included) issue anonymous tokens with `sub: ""`: that caller is anonymous, not a user
      // named "" (which `*` would match); one lacking scope is challenged to log in rather than denied.
      const account = r.user || null;
      if (r.granted) {
        return access.length === 0 || policy.allowsAll(account, access) ? r : denied(access, r.user);
      }
      if (r.reason === 'missing' && access.length > 0 && policy.allowsAll(null, access)) return { granted: true };
      if (r.reason === 'scope' && account !== null && !policy.allowsAll(account, access)) return denied(access, r.user);
      return r;
    },
  };
}
