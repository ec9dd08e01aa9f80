/**
 * @module User commands: loginHSM, logoutHSM, changePswd, createUser,
 * deleteUser, listUsers, getUserInfo, unlockUser, unlockCO, syncUser.
 *
 * The sign-in belongs to each server's connection, so loginHSM in the
 * cloudmgmt scope signs in on every server. State-changing commands run on
 * every server too; the servers share one replicated store, so after the
 * first server made the change the others only confirm it (createUser sends
 * one idempotency key to all; deleteUser and the PRECO promotion check the
 * user list when the server answers that the change is already there).
 */
import { createHash, createPrivateKey, randomUUID, sign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resetMessageBytes } from '../../../protocol/src/officer_reset.js';
import { HsmError } from '../../../protocol/src/errors.js';
import type { ResponseOf } from '../../../protocol/src/messages.js';
import type { EachOptions, Server, Session } from './session.js';
import { MANAGED_USER_TYPES, MANAGED_USER_TYPES_LINE, UsageError, integer, userType, type Command } from './types.js';

type UserRow = ResponseOf<'listUsers'>['users'][number];

const code = (e: unknown, ...codes: string[]) => e instanceof HsmError && codes.includes(e.code);

async function users(s: Session, srv: Server): Promise<UserRow[]> {
  return [...(await s.req(srv, 'listUsers', {})).users];
}

/** Refuse, on this server, a user that does not exist with the given role. */
async function requireUser(s: Session, srv: Server, role: string, user: string): Promise<void> {
  const u = (await users(s, srv)).find((x) => x.user === user);
  if (!u || u.role !== role) throw new HsmError('ERR_USER_NOT_FOUND', `no ${role} named ${user}`);
}

/** The password argument, or `-hpswd`: read it without echo (twice when it is being set). */
async function password(s: Session, arg: string, twice: boolean): Promise<string> {
  if (arg !== '-hpswd') return arg;
  const a = await s.readSecret(twice ? 'Enter new password: ' : 'Enter password: ');
  if (a === undefined || a === '') throw new UsageError('No password entered');
  if (twice) {
    const b = await s.readSecret('Re-enter new password: ');
    if (a !== b) throw new UsageError('Passwords do not match');
  }
  return a;
}

const yesNo = (b: boolean) => (b ? 'YES' : 'NO');

const loginHSM: Command = {
  name: 'loginHSM',
  scope: 'both',
  help: 'Login to the HSM(s) as PRECO, CO or CU',
  syntax: 'loginHSM <user type> <user name> <password | -hpswd>',
  details: ['user type: PRECO, CO, CU (AU is accepted too)', '-hpswd: type the password at a prompt, without echo'],
  args: [3, 3],
  secret: [2],
  async run(s, a) {
    const role = userType(a[0]!);
    const user = a[1]!;
    const pw = await password(s, a[2]!, false);
    return s.each('loginHSM', async (srv) => {
      /* An unverified connection must not carry an officer's or user's password (docs/cli.md, Security). */
      if (srv.mode === 'unencrypted' && role !== 'PRECO') {
        throw new Error('only the PRECO can log in while the server is in unencrypted mode (limited commands mode): the connection is not verified against PO.crt');
      }
      await s.req(srv, 'login', { user, password: pw, role });
    }, {
      limited: true,
      /* One wrong password would otherwise count once per server against the shared lockout counter. */
      stopOn: (e) => code(e, 'ERR_LOGIN_FAILED', 'ERR_PIN_INCORRECT', 'ERR_ACCOUNT_LOCKED'),
    });
  },
};

const logoutHSM: Command = {
  name: 'logoutHSM',
  scope: 'both',
  help: 'Logout from the HSM(s)',
  syntax: 'logoutHSM',
  args: [0, 0],
  run: (s) => s.each('logoutHSM', async (srv) => void (await s.req(srv, 'logout', {})), { limited: true }),
};

const changePswd: Command = {
  name: 'changePswd',
  scope: 'both',
  help: 'Change the password of a user (PRECO: this promotes it to CO)',
  syntax: 'changePswd <user type> <user name> <new password | -hpswd>',
  details: [
    'user type: PRECO, CO, CU, AU',
    'Changing the PRECO password (signed in as the PRECO) turns the account into the crypto officer (CO).',
  ],
  args: [3, 3],
  secret: [2],
  caution: true,
  validate: (a) => void userType(a[0]!),
  async run(s, a) {
    const role = userType(a[0]!);
    const user = a[1]!;
    const pw = await password(s, a[2]!, true);
    return s.each('changePswd', async (srv) => {
      await s.req(srv, 'changePassword', { role, user, password: pw });
    }, {
      /* The PRECO promoted through an earlier server is a CO now, here as well. */
      alreadyApplied: async (srv, e) => role === 'PRECO' && code(e, 'ERR_USER_NOT_FOUND') && (await users(s, srv)).some((u) => u.user === user && u.role === 'CO'),
    });
  },
};

const createUser: Command = {
  name: 'createUser',
  scope: 'both',
  help: 'Create a new user (CO, CU or AU)',
  syntax: 'createUser <user type> <user name> <password | -hpswd>',
  details: [MANAGED_USER_TYPES_LINE],
  args: [3, 3],
  secret: [2],
  caution: true,
  validate: (a) => void userType(a[0]!, MANAGED_USER_TYPES),
  async run(s, a) {
    const role = userType(a[0]!, MANAGED_USER_TYPES);
    const user = a[1]!;
    const pw = await password(s, a[2]!, true);
    const connected = s.targets().filter((t) => t.client).length;
    s.out(`Creating User ${user}(${role}) on ${connected} nodes`);
    /* One idempotency key for every server: the first creates, the others return the same result. */
    const requestId = `mgmt-createUser-${randomUUID()}`;
    return s.each('createUser', async (srv) => {
      await s.req(srv, 'createUser', { role, user, password: pw, requestId });
    }, {
      alreadyApplied: async (srv, e) => code(e, 'ERR_USER_EXISTS') && (await users(s, srv)).some((u) => u.user === user && u.role === role),
    });
  },
};

/** `<user type> <user name>` commands (deleteUser, unlockUser): on every server, the user checked to be there with that type, then `op`. */
function onEachNamedUser(s: Session, a: readonly string[], op: 'deleteUser' | 'unlockUser', opts?: EachOptions): Promise<boolean> {
  const role = userType(a[0]!, MANAGED_USER_TYPES);
  const user = a[1]!;
  return s.each(op, async (srv) => {
    await requireUser(s, srv, role, user);
    await s.req(srv, op, { user });
  }, opts);
}

const deleteUser: Command = {
  name: 'deleteUser',
  scope: 'both',
  help: 'Delete a user',
  syntax: 'deleteUser <user type> <user name>',
  details: [MANAGED_USER_TYPES_LINE, 'A user who still owns keys cannot be deleted; the last CO cannot be deleted.'],
  args: [2, 2],
  caution: true,
  validate: (a) => void userType(a[0]!, MANAGED_USER_TYPES),
  run: (s, a) => onEachNamedUser(s, a, 'deleteUser', {
    alreadyApplied: async (srv, e) => code(e, 'ERR_USER_NOT_FOUND') && !(await users(s, srv)).some((u) => u.user === a[1]!),
  }),
};

const listUsers: Command = {
  name: 'listUsers',
  scope: 'both',
  help: 'List all users of the HSM(s)',
  syntax: 'listUsers',
  args: [0, 0],
  run: (s) => s.each('listUsers', async (srv) => {
    const list = await users(s, srv);
    s.out(`Users on ${s.label(srv)}:`);
    s.out(`Number of users found:${list.length}`);
    s.out();
    s.out(`${'    User Id'.padEnd(24)}${'User Type'.padEnd(16)}${'User Name'.padEnd(35)}${'MofnPubKey'.padEnd(14)}${'LoginFailureCnt'.padEnd(16)}${'2FA'.padEnd(8)}Locked`);
    for (const u of list) {
      s.out(`${String(u.id).padStart(10).padEnd(24)}${u.role.padEnd(16)}${u.user.padEnd(35)}${'NO'.padStart(10).padEnd(14)}${String(u.failures).padStart(15).padEnd(16)}${'NO'.padStart(3).padEnd(8)}${yesNo(u.locked).padStart(6)}`);
    }
  }, { limited: true, successLine: false }),
};

const getUserInfo: Command = {
  name: 'getUserInfo',
  scope: 'both',
  help: 'Show one user (id, type, name, lock state)',
  syntax: 'getUserInfo <user id | user name>',
  args: [1, 1],
  run: (s, a) => s.each('getUserInfo', async (srv) => {
    const key = a[0]!;
    const u = (await users(s, srv)).find((x) => (/^\d+$/.test(key) ? x.id === Number(key) : x.user === key));
    if (!u) throw new HsmError('ERR_USER_NOT_FOUND', "This user doesn't exist");
    s.out(`User Info on ${s.label(srv)}:`);
    s.out(`\tUser Id         : ${u.id}`);
    s.out(`\tUser Type       : ${u.role}`);
    s.out(`\tUser Name       : ${u.user}`);
    s.out(`\tLoginFailureCnt : ${u.failures}`);
    s.out(`\tLocked          : ${yesNo(u.locked)}`);
  }, { limited: true }),
};

/**
 * unlockCO: reset a crypto officer's password with the partition owner key
 * (PO.key) when no officer can sign in (locked out, or the password lost).
 * No sign-in: each server issues a challenge, PO.key signs it here, the
 * server checks the signature against its PO.crt (hsm-core users/officer_reset.ts; the message format is protocol/src/officer_reset.ts).
 */
const unlockCO: Command = {
  name: 'unlockCO',
  scope: 'both',
  help: 'Reset a crypto officer\'s password and lockout with the partition owner key (PO.key)',
  syntax: 'unlockCO <CO user name> <new password | -hpswd> <PO.key file>',
  details: [
    'For a crypto officer (CO) that is locked out or has lost its password; no login is needed.',
    'PO.key is the partition owner private key whose certificate (PO.crt) was stored with storeCert 4.',
    'Each server issues a challenge (getChallenge); it is signed here with PO.key and valid for 10 minutes.',
  ],
  args: [3, 3],
  secret: [1],
  caution: true,
  async run(s, a) {
    const user = a[0]!;
    const pw = await password(s, a[1]!, true);
    let key;
    try {
      key = createPrivateKey(readFileSync(a[2]!));
    } catch (e) {
      throw new UsageError(`cannot read the partition owner key ${a[2]}: ${e instanceof Error ? e.message : String(e)}`);
    }
    if (key.asymmetricKeyType !== 'rsa') throw new UsageError(`${a[2]} is not an RSA private key (PO.key is RSA 2048)`);
    return s.each('unlockCO', async (srv) => {
      const c = await s.req(srv, 'getChallenge', { user });
      const signature = sign('sha256', resetMessageBytes(c, createHash('sha256').update(pw, 'utf8').digest('hex')), key);
      await s.req(srv, 'unlockCO', { user, password: pw, time: c.time, signature });
    });
  },
};

const unlockUser: Command = {
  name: 'unlockUser',
  scope: 'both',
  help: 'Unlock a user locked after too many failed logins, and reset its failure count',
  syntax: 'unlockUser <user type> <user name>',
  details: [MANAGED_USER_TYPES_LINE],
  args: [2, 2],
  caution: true,
  validate: (a) => void userType(a[0]!, MANAGED_USER_TYPES),
  run: (s, a) => onEachNamedUser(s, a, 'unlockUser'),
};

/** The target server of syncUser / syncKey, checked. */
export function syncTarget(s: Session, name: string, arg: string): Server {
  const id = integer(arg, 'server id');
  const target = s.servers[id];
  if (!target) throw new UsageError(`Invalid server id ${id}: the servers are 0 to ${s.servers.length - 1}`);
  if (target === s.current) throw new UsageError(`${name}: the target server is the current server`);
  return target;
}

const syncUser: Command = {
  name: 'syncUser',
  scope: 'server',
  help: 'Copy a user from this server to another one (OpenCloudHSM: confirms it is there)',
  syntax: 'syncUser <user id> <server id>',
  details: ['The servers share one replicated store, so the user is normally already on the target; the command checks it through the target server.'],
  args: [2, 2],
  async run(s, a) {
    const uid = integer(a[0]!, 'user id');
    const target = syncTarget(s, 'syncUser', a[1]!);
    const src = s.current!;
    try {
      const u = (await users(s, src)).find((x) => x.id === uid);
      if (!u) throw new HsmError('ERR_USER_NOT_FOUND', `user ${uid} does not exist on ${s.label(src)}`);
      if (!target.client) throw new Error(`Server ${target.index}(${target.hostname}) is not connected`);
      const there = (await users(s, target)).find((x) => x.user === u.user);
      if (!there || there.role !== u.role) {
        throw new Error(`user ${u.user} is missing on ${s.label(target)} although the store is replicated: check that every server uses the same store`);
      }
      s.out(`User ${u.id}(${u.user}) is already present on ${s.label(target)} as user ${there.id}: the store is replicated, nothing to copy`);
      s.out('syncUser success');
      return true;
    } catch (e) {
      s.failure('syncUser', undefined, e);
      return false;
    }
  },
};

export const USER_COMMANDS: readonly Command[] = [loginHSM, logoutHSM, changePswd, createUser, deleteUser, listUsers, getUserInfo, unlockUser, unlockCO, syncUser];
