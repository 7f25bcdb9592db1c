/** The auth seam: a method answers "granted" (with the user) or a challenge; access itself is decided in access.ts. */
import type { IncomingMessage } from 'node:http';
import type { Access } from './access.js';

export type AuthResult = { granted: true; user?: string } | { granted: false; status: 401 | 403 | 429; headers: Record<string, string>; code: 'UNAUTHORIZED' | 'DENIED' | 'TOOMANYREQUESTS'; message?: string; detail: unknown };

export interface AccessController {
  readonly name: string;
  authorize(req: IncomingMessage, access: Access[]): Promise<AuthResult>;
}

/** No `auth` section (or `auth: none`): everything is granted. */
export const openAccess: AccessController = {
  name: 'none',
  authorize: async () => ({ granted: true }),
};
