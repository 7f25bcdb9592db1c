/**
 * The access model, decided once for every request: which resources and actions it needs.
 * Auth methods never decide this themselves; they only check it.
 */

export interface Access {
  type: 'registry' | 'repository';
  /** Resource class; always "" as Distribution sends it. */
  class: string;
  name: string;
  action: string;
}

export type RouteName = 'base' | 'catalog' | 'tags' | 'manifest' | 'blob' | 'uploadStart' | 'upload' | 'referrers';

export function repositoryAccess(name: string, actions: string[]): Access[] {
  return actions.map((action) => ({ type: 'repository', class: '', name, action }));
}

/**
 * GET/HEAD need pull; POST/PUT/PATCH need pull and push; DELETE needs delete; starting an upload with a `from`
 * repository also needs pull on it (Distribution asks for it whenever `from` is given, with or without `mount`,
 * and lists it in the 401 detail); the catalog needs registry:catalog:*; the base endpoint needs no resource.
 */
export function requiredAccess(
  route: RouteName,
  method: string,
  name: string | undefined,
  query: URLSearchParams | null,
): Access[] {
  if (route === 'base') return [];
  if (route === 'catalog') return [{ type: 'registry', class: '', name: 'catalog', action: '*' }];
  if (!name) return [];
  let actions: string[];
  switch (method) {
    case 'GET':
    case 'HEAD':
      actions = ['pull'];
      break;
    case 'DELETE':
      actions = ['delete'];
      break;
    default:
      actions = ['pull', 'push'];
  }
  const out = repositoryAccess(name, actions);
  const from = route === 'uploadStart' && method === 'POST' ? query?.get('from') : null;
  if (from) out.push(...repositoryAccess(from, ['pull']));
  return out;
}
