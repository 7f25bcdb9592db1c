/**
 * `auth.silly`: any non-empty Authorization header passes (user "silly"); none gets a Bearer challenge. For tests only.
 * Unlike `auth.token`, Distribution's silly challenge lists every access as its own scope, space-separated
 * (`repository:foo:pull repository:foo:push`), not grouped per resource: we answer byte for byte the same.
 */
import type { IncomingMessage } from 'node:http';
import type { Access } from './access.js';
import { challenge, type AccessController, type AuthResult } from './controller.js';

export function sillyAccess(opts: { realm: string; service: string }): AccessController {
  return {
    name: 'silly',
    readsAll: true,
    async authorize(req: IncomingMessage, access: Access[]): Promise<AuthResult> {
      if (req.headers.authorization) return { granted: true, user: 'silly' };
      let h = `Bearer realm=${JSON.stringify(opts.realm)},service=${JSON.stringify(opts.service)}`;
      const scope = access.map((a) => `${a.type}:${a.name}:${a.action}`).join(' ');
      if (scope) h += `,scope=${JSON.stringify(scope)}`;
      return challenge(access, h);
    },
  };
}
