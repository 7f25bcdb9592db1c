/** Scopes in the Docker token protocol: `repository:foo/bar:pull,push registry:catalog:*`. */
import type { Access } from './access.js';

/** Groups accesses by resource, in the order first seen, as the challenge's `scope` parameter. */
export function scopeParam(access: Access[]): string {
  const groups = new Map<string, string[]>();
  for (const a of access) {
    const key = `${a.type}:${a.name}`;
    const actions = groups.get(key) ?? [];
    if (!actions.includes(a.action)) actions.push(a.action);
    groups.set(key, actions);
  }
  return [...groups].map(([k, actions]) => `${k}:${actions.join(',')}`).join(' ');
}
