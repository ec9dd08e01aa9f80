/**
 * @module The role check every entry point starts with.
 */
import { HsmError } from '../../../protocol/src/errors.js';
import type { CallContext, Principal } from '../partition/context.js';
import type { Role } from './users.js';

/** The caller must be signed in with one of `roles`; `what` names the operation in the error. */
export function requireRole(ctx: CallContext, roles: readonly Role[], what: string): Principal {
  const p = ctx.principal;
  if (!p) throw new HsmError('ERR_USER_NOT_LOGGED_IN', `${what} needs a signed-in ${roles.join(' or ')}`);
  if (!roles.includes(p.role)) throw new HsmError('ERR_NOT_PERMITTED', `${what} is not permitted for a ${p.role}; it needs a ${roles.join(' or ')}`);
  return p;
}
