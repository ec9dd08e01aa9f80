/**
 * @module The node's door and the other request-level rules, as data: what a
 * caller may ask before signing in, what an unclaimed partition answers
 * (limited commands mode), which operations need a role, and "already
 * signed in". The node asks `admit` before it runs any request, so the node
 * stays transport only.
 *
 * Before sign-in a node answers: hello, cluster information and status,
 * sign-in, the claiming commands while the partition is unclaimed (with the
 * user list the claiming tools show), reads of
 * public objects (findObjects, getAttributeValue, keyInfo: visibility rules
 * then show only public objects), and what creates nothing that lasts: the
 * mechanism list, digests, random bytes, and opening (and closing its own)
 * sessions, which PKCS#11 applications do before C_Login. Nothing before
 * sign-in creates, changes or deletes an object or a user, except a crypto
 * officer's password reset that the partition owner's key signed (unlockCO).
 *
 * A partition of a profile with PUBLIC_SESSION_OBJECTS (protocol/src/profiles.ts;
 * `standard`) also lets a caller who has not signed in ask for the operations
 * marked `beforeSignInIf: 'publicSessionObjects'`: the core then allows them on
 * public session objects only (objects/lifecycle.ts, keyuse.ts).
 */
import { HsmError } from '../../../protocol/src/errors.js';
import type { Principal } from '../partition/context.js';
import type { Role } from '../users/users.js';
import type { ProfileSettings } from '../../../protocol/src/profiles.js';

export type PartitionMode = 'unclaimed' | 'claimed';

export interface OpRule {
  /** Answered before sign-in. */
  readonly beforeSignIn?: true;
  /** Answered before sign-in when the partition's profile has this setting (the core checks the objects). */
  readonly beforeSignInIf?: 'publicSessionObjects';
  /** Answered while the partition is unclaimed (limited commands mode). */
  readonly unclaimed?: true;
  /** Only these roles (the core checks finer rules itself). */
  readonly roles?: readonly Role[];
}

/** One row per operation; an operation not listed needs a signed-in caller and a claimed partition. */
export const OP_RULES: Readonly<Record<string, OpRule>> = {
  hello: { beforeSignIn: true, unclaimed: true },
  login: { beforeSignIn: true, unclaimed: true },
  logout: { unclaimed: true },
  loginStatus: { beforeSignIn: true, unclaimed: true },
  status: { beforeSignIn: true, unclaimed: true },
  getClusterInfo: { beforeSignIn: true, unclaimed: true },
  getCertReq: { beforeSignIn: true, unclaimed: true },
  getCert: { beforeSignIn: true, unclaimed: true },
  storeCert: { unclaimed: true, roles: ['PRECO'] },
  listUsers: { beforeSignIn: true, unclaimed: true },
  openSession: { beforeSignIn: true },
  closeSession: { beforeSignIn: true },
  findObjects: { beforeSignIn: true },
  getAttributeValue: { beforeSignIn: true },
  keyInfo: { beforeSignIn: true },
  mechanismList: { beforeSignIn: true },
  mechanismInfo: { beforeSignIn: true },
  digest: { beforeSignIn: true },
  /* Multi-part: a digest needs no sign-in; the core requires a CU for the keyed kinds at streamInit. */
  streamInit: { beforeSignIn: true },
  streamUpdate: { beforeSignIn: true },
  streamFinal: { beforeSignIn: true },
  streamCancel: { beforeSignIn: true },
  generateRandom: { beforeSignIn: true },
  /* Public session objects before sign-in, in a profile that allows them (PUBLIC_SESSION_OBJECTS). */
  createObject: { beforeSignInIf: 'publicSessionObjects' },
  copyObject: { beforeSignInIf: 'publicSessionObjects' },
  setAttributeValue: { beforeSignInIf: 'publicSessionObjects' },
  destroyObject: { beforeSignInIf: 'publicSessionObjects' },
  generateKey: { beforeSignInIf: 'publicSessionObjects' },
  generateKeyPair: { beforeSignInIf: 'publicSessionObjects' },
  encrypt: { beforeSignInIf: 'publicSessionObjects' },
  decrypt: { beforeSignInIf: 'publicSessionObjects' },
  sign: { beforeSignInIf: 'publicSessionObjects' },
  verify: { beforeSignInIf: 'publicSessionObjects' },
  /* A locked-out crypto officer's recovery, authorised by the partition owner's signature instead of a sign-in (users/officer_reset.ts). */
  getChallenge: { beforeSignIn: true },
  unlockCO: { beforeSignIn: true },
  /* A joining node has no account: it asks for the masking key wrapped for its approved key (cluster/joins.ts). */
  joinKey: { beforeSignIn: true },
  approveNode: { roles: ['CO'] },
  auditRecords: { roles: ['CO'] },
  backupPartition: { roles: ['CO'] },
  /* Into a fresh, unclaimed partition by its PRECO, or a claimed one without keys by a CO (backup/partition_backup.ts). */
  restorePartition: { unclaimed: true, roles: ['CO', 'PRECO'] },
  setPolicy: { roles: ['CO'] },
};

/**
 * May this request run at all? Throws the error the caller should get:
 * ERR_PARTITION_STATE in limited mode, ERR_USER_NOT_LOGGED_IN before
 * sign-in, ERR_NOT_PERMITTED for the wrong role, ERR_USER_ALREADY_LOGGED_IN
 * for a second sign-in on one connection.
 */
export function admit(op: string, principal: Principal | undefined, mode: PartitionMode, profile?: ProfileSettings): void {
  const rule = OP_RULES[op] ?? {};
  if (mode === 'unclaimed' && !rule.unclaimed) {
    throw new HsmError('ERR_PARTITION_STATE', `the partition is in unencrypted mode (limited commands mode); claim it first (storeCert 4 and 8) before ${op}`);
  }
  if (op === 'login' && principal) {
    throw new HsmError('ERR_USER_ALREADY_LOGGED_IN', `this connection is already signed in as ${principal.user}; log out first`);
  }
  if (!principal && !rule.beforeSignIn && !(rule.beforeSignInIf && profile?.[rule.beforeSignInIf])) {
    if (op === 'logout') throw new HsmError('ERR_USER_NOT_LOGGED_IN', 'this connection is not signed in');
    throw new HsmError('ERR_USER_NOT_LOGGED_IN', `${op} needs a signed-in user; sign in first`);
  }
  if (principal && rule.roles && !rule.roles.includes(principal.role)) {
    throw new HsmError('ERR_NOT_PERMITTED', op === 'auditRecords' ? 'the audit log is for a signed-in crypto officer (CO)' : `${op} is for a ${rule.roles.join(' or ')}, not a ${principal.role}`);
  }
}
