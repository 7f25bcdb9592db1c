/** `auth.silly`: any non-empty Authorization header passes (user "silly"); none gets a Bearer challenge. For tests only. */
import type { IncomingMessage } from 'node:http';
import type { Access } from './access.js';
import { challenge, type AccessController, type AuthResult } from './controller.js';
import { scopeParam } from './scope.js';

export function sillyAccess(opts: { realm: string; service: string }): AccessController {
  return {
    name: 'silly',
    readsAll: true,
    async authorize(req: IncomingMessage, access: Access[]): Promise<AuthResult> {
      if (req.headers.authorization) return { granted: true, user: 'silly' };
      let h = `Bearer realm=${JSON.stringify(opts.realm)},service=${JSON.stringify(opts.service)}`;
      const scope = scopeParam(access);
      if (scope) h += `,scope=${JSON.stringify(scope)}`;
      return challenge(access, h);
    },
  };
}
