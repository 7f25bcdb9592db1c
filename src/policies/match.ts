/**
 * The `policies` rules compiled for lookups: which rule governs a repository (the first whose `repositories`
 * glob matches, as in access.rules), and which immutable pattern protects a tag. Replaced whole on SIGHUP.
 */
import { globToRegExp } from '../auth/policy.js';
import type { KeepSelector, PoliciesConfig, PolicyRule } from './schema.js';

export interface CompiledSelector {
  /** Null: every tag. */
  tags: RegExp[] | null;
  recent?: number;
  pushedWithinMs?: number;
  /** The selector as written, for explanations. */
  source: KeepSelector;
}

export interface CompiledRule {
  /** Position in `policies`, for messages ("policies[2]"). */
  index: number;
  repositories: RegExp[];
  immutable: Array<{ pattern: string; re: RegExp }>;
  /** Null: retention untags nothing in these repositories. */
  keep: CompiledSelector[] | null;
  deleteUntaggedMs?: number;
  source: PolicyRule;
}

/** The immutable pattern that protects a tag, and the rule it belongs to. */
export interface ImmutableMatch {
  rule: number;
  pattern: string;
}

/** Tag globs: `*` is any run of characters (tags have no `/`). */
export function tagMatcher(pattern: string): RegExp {
  return globToRegExp(pattern);
}

export function compileRule(rule: PolicyRule, index: number): CompiledRule {
  return {
    index,
    repositories: rule.repositories.map(globToRegExp),
    immutable: rule.immutable.map((pattern) => ({ pattern, re: tagMatcher(pattern) })),
    keep: rule.keep
      ? rule.keep.map((k) => ({
          tags: k.tags ? k.tags.map(tagMatcher) : null,
          recent: k.recent,
          pushedWithinMs: k.pushedwithin,
          source: k,
        }))
      : null,
    deleteUntaggedMs: rule.deleteuntagged,
    source: rule,
  };
}

export class PolicySet {
  private rules: CompiledRule[];

  constructor(config: PoliciesConfig) {
    this.rules = config.map(compileRule);
  }

  /** Replaces the rules (SIGHUP); a request or cleanup already running keeps the rules it started with. */
  replace(config: PoliciesConfig): void {
    this.rules = config.map(compileRule);
  }

  get size(): number {
    return this.rules.length;
  }

  /** The rule governing repository `name`, or null when none matches. */
  ruleFor(name: string): CompiledRule | null {
    return this.rules.find((r) => r.repositories.some((re) => re.test(name))) ?? null;
  }

  /** The immutable pattern protecting `tag` in repository `name`, or null. */
  immutable(name: string, tag: string): ImmutableMatch | null {
    const rule = this.ruleFor(name);
    return rule ? immutableIn(rule, tag) : null;
  }
}

export function immutableIn(rule: CompiledRule, tag: string): ImmutableMatch | null {
  const hit = rule.immutable.find((p) => p.re.test(tag));
  return hit ? { rule: rule.index, pattern: hit.pattern } : null;
}

/** One line per rule saying in words what it does, for `wharf config check`. */
export function explainPolicies(config: PoliciesConfig, formatMs: (ms: number) => string): string[] {
  return config.map((rule, i) => {
    const parts: string[] = [];
    if (rule.immutable.length > 0) parts.push(`tags ${rule.immutable.join(', ')} are immutable (and always kept)`);
    if (rule.keep) {
      const kept = rule.keep.map((k) => {
        const which = k.tags ? `tags ${k.tags.join(', ')}` : 'tags';
        const limits = [
          k.recent !== undefined ? `the ${k.recent} most recently pushed` : null,
          k.pushedwithin !== undefined ? `those pushed within ${formatMs(k.pushedwithin)}` : null,
        ].filter(Boolean);
        return limits.length > 0 ? `of ${which}: ${limits.join(' and ')}` : `every one of ${which}`;
      });
      parts.push(`cleanup keeps ${kept.join('; ')}; every other tag is untagged and its manifest deleted`);
    } else {
      parts.push('cleanup untags nothing');
    }
    parts.push(
      rule.deleteuntagged !== undefined
        ? `manifests no tag reaches are deleted once pushed more than ${formatMs(rule.deleteuntagged)} ago`
        : 'manifests no tag reaches are kept',
    );
    return `policies[${i}] (${rule.repositories.join(', ')}, first match wins): ${parts.join('; ')}`;
  });
}
