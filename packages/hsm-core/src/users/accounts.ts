/**
 * @module Users and lockout: sign-in, creating, deleting and unlocking users,
 * changing passwords. Failed sign-ins are counted in the store, so the limit
 * holds across every node of the cluster.
 */
import { HsmError, LOGIN_FAILED_MESSAGE } from '../../../protocol/src/errors.js';
import { settingsOf } from '../authz/profile.js';
import type { CallContext, Principal } from '../partition/context.js';
import type { Kernel } from '../partition/kernel.js';
import { PATH, enc, dec, type PartitionRecord } from '../partition/records.js';
import { requireRole } from './roles.js';
import { challengeFor, checkReset, type ResetChallenge } from './officer_reset.js';
import {
  hashPassword, parseRole, userInfo, validatePassword, validateUserName, verifyPassword,
  type UserInfo, type UserRecord,
} from './users.js';

export class Accounts {
  constructor(private readonly k: Kernel) {}

  /**
   * Sign in. Unknown users, wrong passwords, a role that is not the user's and
   * malformed names all give the same ERR_LOGIN_FAILED (0xA3; in the
   * `standard` profile ERR_PIN_INCORRECT, 0xA0) after the same work; a locked account gives ERR_ACCOUNT_LOCKED. Failures are counted in
   * the store, so the limit holds across every node of the cluster.
   *
   * What reaches the store: a known, unlocked account's attempt is reserved
   * (the user record) and then either released with the success's audit
   * record or kept with the failure's; both writes of a success are needed,
   * the first to bound the checks, the second to end the count. An unknown
   * name or a locked account writes nothing (told to onRefusedSignIn, the
   * node's rate-limited log), so attempts nobody could count cannot grow it.
   */
  async login(name: string, password: string, role?: string): Promise<Principal> {
    try {
      return await this.checkSignIn(name, password, role);
    } catch (e) {
      /* The profile's row WRONG_PIN_CODE says which code a failed sign-in answers (authz/profile.ts). */
      if (e instanceof HsmError && e.code === 'ERR_LOGIN_FAILED') {
        const code = settingsOf((await this.k.state.requirePartition()).rec).wrongPinError;
        if (code !== e.code) throw new HsmError(code, e.message);
      }
      throw e;
    }
  }

  private async checkSignIn(name: string, password: string, role?: string): Promise<Principal> {
    const claimed = role === undefined ? undefined : parseRole(role);
    let found: { rec: UserRecord; version: number } | undefined;
    try {
      validateUserName(name);
      found = await this.k.state.userFor(name);
    } catch (e) {
      if (!(e instanceof HsmError) || e.code !== 'ERR_ARGUMENTS_BAD') throw e;
    }
    if (!found) {
      /* Same cost as a real check, so timing does not reveal which names exist. */
      await verifyPassword(String(password), { salt: '00', hash: '00'.repeat(32), scrypt: this.k.config.scrypt });
      /*
       * Nothing is written to the store: a stranger trying names must not grow
       * it. The node's log has it (rate-limited); no account's count changes.
       * (A known name's attempt also writes the store, so it takes longer;
       * names are not secret here: listUsers answers before sign-in.)
       */
      this.k.onRefusedSignIn?.({ user: String(name).slice(0, 64), reason: 'unknown user' });
      throw new HsmError('ERR_LOGIN_FAILED', LOGIN_FAILED_MESSAGE);
    }
    /*
     * Reserve the attempt before the password is checked: in one store
     * transaction the count is read and raised, so however many attempts run at
     * once on however many nodes, no more than maxLoginFailures passwords are
     * ever checked before the account locks. An attempt that succeeds gives its
     * reservation back (the count returns to 0); one that fails keeps it; one
     * whose node dies before the check counts as a failure (fail closed).
     */
    const reserved = await this.reserveAttempt(name);
    if (!reserved.ok) {
      /* A locked account checks no password and writes nothing (the lock is already recorded); the node logs it. */
      this.k.onRefusedSignIn?.({ user: name, reason: 'account locked' });
      throw this.lockedError(name, found.rec.role);
    }
    const rec = reserved.rec;
    const ok = typeof password === 'string' && (await verifyPassword(password, rec)) && (claimed === undefined || claimed === rec.role);
    if (!ok) {
      await this.k.txn.mutate(async () => ({
        events: [{ user: name, role: rec.role, action: 'login', result: 'ERR_LOGIN_FAILED', detail: `attempt ${reserved.attempt} of ${this.k.config.maxLoginFailures}${reserved.attempt >= this.k.config.maxLoginFailures ? '; account locked' : ''}` }],
        result: undefined,
      }));
      throw new HsmError('ERR_LOGIN_FAILED', LOGIN_FAILED_MESSAGE);
    }
    await this.k.txn.mutate(async () => {
      const cur = await this.k.state.user(name);
      /* The password may have been changed or the account deleted meanwhile: then this attempt is refused. */
      if (!cur || cur.rec.salt !== rec.salt || cur.rec.hash !== rec.hash) throw new HsmError('ERR_LOGIN_FAILED', LOGIN_FAILED_MESSAGE);
      const reset = cur.rec.failures > 0 || cur.rec.locked;
      return {
        compare: reset ? [{ key: PATH.user(name), op: 'version-eq', version: cur.version }] : [],
        ops: reset ? [{ op: 'put', key: PATH.user(name), value: enc({ ...cur.rec, failures: 0, locked: false }) }] : [],
        events: [{ user: name, role: rec.role, action: 'login', result: 'ok' }],
        result: undefined,
      };
    });
    return { user: name, role: rec.role };
  }

  /**
   * Count one sign-in attempt in the store, checking the limit in the same
   * transaction: refused (ok false) when the account is locked or the limit is
   * reached. The reservation is a failure until the password proves right.
   */
  private async reserveAttempt(name: string): Promise<{ ok: true; rec: UserRecord; attempt: number } | { ok: false }> {
    const max = this.k.config.maxLoginFailures;
    const isLocked = (u: UserRecord) => u.locked || u.failures >= max;
    let denied: UserRecord | undefined;
    const got = await this.k.txn.mutate(async () => {
      denied = undefined;
      let cur = await this.k.state.user(name);
      /* Locked here may be a stale view (an unlock through another node a moment ago): catch up before refusing. */
      if (cur && isLocked(cur.rec)) {
        await this.k.state.sync();
        cur = await this.k.state.user(name);
      }
      if (!cur) throw new HsmError('ERR_LOGIN_FAILED', LOGIN_FAILED_MESSAGE);
      if (isLocked(cur.rec)) {
        denied = cur.rec;
        /* Refused without a write: the lock was recorded when it took effect, so a flood of attempts grows nothing. */
        return { result: undefined };
      }
      const failures = cur.rec.failures + 1;
      const rec: UserRecord = { ...cur.rec, failures, locked: failures >= max };
      return {
        compare: [{ key: PATH.user(name), op: 'version-eq', version: cur.version }],
        ops: [{ op: 'put', key: PATH.user(name), value: enc(rec) }],
        result: { rec: cur.rec, attempt: failures },
      };
    });
    if (denied || !got) return { ok: false };
    return { ok: true, rec: got.rec, attempt: got.attempt };
  }

  private lockedError(name: string, role: string): HsmError {
    const how = role === 'CO' || role === 'PRECO'
      ? 'another crypto officer can unlock it (unlockUser), or the partition owner resets its password with PO.key (azcloudhsm_mgmt_util: unlockCO <user> <new password> <PO.key>)'
      : 'a crypto officer must unlock it (unlockUser)';
    return new HsmError('ERR_ACCOUNT_LOCKED', `account ${name} is locked after ${this.k.config.maxLoginFailures} failed sign-ins; ${how}`);
  }

  /** The challenge a partition owner signs to reset a CO's password (./officer_reset.ts). */
  async officerResetChallenge(name: string): Promise<ResetChallenge> {
    validateUserName(name);
    /* Current state: a reset through another node a moment ago gave the officer a new salt. */
    await this.k.state.sync();
    const u = await this.k.state.user(name);
    if (!u || u.rec.role !== 'CO') throw new HsmError('ERR_USER_NOT_FOUND', `no crypto officer (CO) named ${name}`);
    return challengeFor(u.rec, await this.serial(), this.k.clock());
  }

  /**
   * Reset a CO's password, authorised by the partition owner's signature
   * (PO.key) over a fresh challenge; also clears its lockout. No sign-in.
   */
  async resetOfficerPassword(poCert: Uint8Array | undefined, name: string, newPassword: string, time: number, signature: Uint8Array): Promise<UserInfo> {
    validateUserName(name);
    validatePassword(newPassword);
    const serial = await this.serial();
    await this.k.state.sync();
    const first = await this.k.state.user(name);
    checkReset({ rec: first?.rec, poCert, serial, now: this.k.clock(), time, newPassword, signature });
    const hashed = await hashPassword(newPassword, this.k.config.scrypt);
    return this.k.txn.mutate(async () => {
      const cur = await this.k.state.user(name);
      /* The challenge names the salt it was made for: a reset in between (or a replay) leaves this one stale. */
      if (!cur || cur.rec.salt !== first!.rec.salt) throw new HsmError('ERR_SIGNATURE_INVALID', 'the crypto officer\'s password changed after the challenge was issued; ask for a new one with getChallenge');
      const rec: UserRecord = { ...cur.rec, ...hashed, failures: 0, locked: false };
      return {
        compare: [{ key: PATH.user(name), op: 'version-eq', version: cur.version }],
        ops: [{ op: 'put', key: PATH.user(name), value: enc(rec) }],
        events: [{ user: 'PO', role: '', action: 'unlockCO', detail: `${name}: password reset with the partition owner key`, result: 'ok' }],
        result: userInfo(rec),
      };
    });
  }

  private async serial(): Promise<string> {
    const e = await this.k.barrier.get(PATH.partition);
    return e ? dec<PartitionRecord>(e.value).serial : '';
  }

  async createUser(ctx: CallContext, role: string, name: string, password: string): Promise<UserInfo> {
    const caller = requireRole(ctx, ['CO'], 'creating a user');
    const r = parseRole(role);
    if (r === 'PRECO') throw new HsmError('ERR_USER_TYPE_INVALID', 'a PRECO cannot be created; the partition has exactly one, from the factory');
    validateUserName(name);
    validatePassword(password);
    const prior = await this.k.txn.priorResult<UserInfo>(ctx, 'createUser');
    if (prior.found) return prior.result;
    const hashed = await hashPassword(password, this.k.config.scrypt);
    return this.k.txn.mutate(async () => {
      if (await this.k.state.user(name)) throw new HsmError('ERR_USER_EXISTS', `user ${name} already exists`);
      const idE = await this.k.barrier.get(PATH.nextUserId);
      const id = idE ? dec<{ next: number }>(idE.value).next : 2;
      const rec: UserRecord = { name, role: r, id, ...hashed, failures: 0, locked: false, created: this.k.clock() };
      const info = userInfo(rec);
      return {
        compare: [{ key: PATH.user(name), op: 'absent' }, { key: PATH.nextUserId, op: 'version-eq', version: idE?.version ?? 0 }, ...prior.compare],
        ops: [
          { op: 'put', key: PATH.user(name), value: enc(rec) },
          { op: 'put', key: PATH.nextUserId, value: enc({ next: id + 1 }) },
          ...prior.ops(info),
        ],
        events: [{ user: caller.user, role: caller.role, action: 'createUser', detail: `${r} ${name}`, result: 'ok' }],
        result: info,
      };
    });
  }

  /**
   * Change a password. Anyone may change their own; a CO may change a CU's or
   * AU's. The PRECO changing its own password becomes a CO (the claiming step
   * of the onboarding guide §1.5 step 8).
   */
  async changePassword(ctx: CallContext, role: string, name: string, newPassword: string, opts: { oldProved?: boolean; action?: string } = {}): Promise<UserInfo> {
    const caller = requireRole(ctx, ['PRECO', 'CO', 'CU', 'AU'], 'changing a password');
    const r = parseRole(role);
    validatePassword(newPassword);
    const self = caller.user === name;
    if (!self && caller.role !== 'CO') throw new HsmError('ERR_NOT_PERMITTED', 'only a crypto officer can change another user\'s password');
    const hashed = await hashPassword(newPassword, this.k.config.scrypt);
    return this.k.txn.mutate(async () => {
      /*
       * A retry with the request id of a change that committed (its answer lost) answers what the
       * first did: the PRECO is a CO by then, and C_SetPIN's old PIN is no longer the password.
       */
      const prior = await this.k.txn.priorResult<UserInfo>(ctx, opts.action ?? 'changePassword');
      if (prior.found) return { result: prior.result };
      const cur = await this.k.state.user(name);
      if (!cur || cur.rec.role !== r) throw new HsmError('ERR_USER_NOT_FOUND', `no ${r} named ${name}`);
      if (!self && (cur.rec.role === 'CO' || cur.rec.role === 'PRECO')) throw new HsmError('ERR_NOT_PERMITTED', 'a crypto officer cannot change another officer\'s password');
      const promoted = cur.rec.role === 'PRECO';
      /* After C_SetPIN proved the old password, the count it reserved goes back as a sign-in's does. */
      const counts = opts.oldProved === true ? { failures: 0, locked: false } : {};
      const rec: UserRecord = { ...cur.rec, ...hashed, ...counts, role: promoted ? 'CO' : cur.rec.role };
      const info = userInfo(rec);
      return {
        compare: [{ key: PATH.user(name), op: 'version-eq', version: cur.version }, ...prior.compare],
        ops: [{ op: 'put', key: PATH.user(name), value: enc(rec) }, ...prior.ops(info)],
        events: [{ user: caller.user, role: caller.role, action: 'changePswd', detail: promoted ? `${name} PRECO→CO` : name, result: 'ok' }],
        result: info,
      };
    });
  }

  /**
   * C_SetPIN (setPin), in a profile with the row SET_PIN: the signed-in user changes its own
   * password, proving the old one. Each PIN is `user:password` as C_Login takes it (the user must
   * be the caller) or the password alone. The old password is checked as a sign-in checks it
   * (scrypt, compared in constant time) and counts toward the lockout as a sign-in does; a wrong
   * one answers as WRONG_PIN_CODE says and is audited. The change itself is changePassword's (checked, audited `changePswd`). A read-only
   * session cannot (READ_ONLY_SESSIONS; PKCS#11 v2.40 §5.6 lists C_SetPIN among the R/W calls).
   */
  async setPin(ctx: CallContext, oldPin: string, newPin: string): Promise<UserInfo> {
    const row = settingsOf((await this.k.state.requirePartition()).rec);
    if (!row.setPin) throw new HsmError('ERR_FUNCTION_NOT_SUPPORTED', 'C_SetPIN is not supported in this partition profile; change passwords with azcloudhsm_mgmt_util changePswd');
    const caller = requireRole(ctx, ['CO', 'CU', 'AU'], 'changing a PIN');
    if (ctx.readOnly === true && row.readOnlySessions) throw new HsmError('ERR_SESSION_READ_ONLY', 'C_SetPIN: a read-only session (opened without CKF_RW_SESSION) cannot change a PIN; open a read/write session');
    const password = (pin: unknown): string | undefined => {
      if (typeof pin !== 'string') return undefined;
      const i = pin.indexOf(':');
      return i < 0 ? pin : pin.slice(0, i) === caller.user ? pin.slice(i + 1) : undefined;
    };
    const oldPassword = password(oldPin);
    const newPassword = password(newPin);
    if (newPassword === undefined) throw new HsmError('ERR_PIN_INVALID', 'the new PIN must be the new password, or "user:password" naming the signed-in user');
    validatePassword(newPassword);
    /* A retry of a change that committed: the old PIN is no longer the password, so answer what the first did. */
    const prior = await this.k.txn.priorResult<UserInfo>(ctx, 'setPin');
    if (prior.found) return prior.result;
    /*
     * The old PIN is a password guess like a sign-in's, so it counts like one: the attempt is
     * reserved against maxLoginFailures before the check (a session someone left signed in is no
     * way round the lockout), and the change that follows a right one resets the count.
     */
    const reserved = await this.reserveAttempt(caller.user);
    if (!reserved.ok) throw this.lockedError(caller.user, caller.role);
    /* The same work whether or not the old PIN named the caller, so its form is no shortcut. */
    const ok = (await verifyPassword(oldPassword ?? String(oldPin), reserved.rec)) && oldPassword !== undefined;
    if (!ok) {
      const max = this.k.config.maxLoginFailures;
      await this.k.txn.mutate(async () => ({ events: [{ user: caller.user, role: caller.role, action: 'changePswd', detail: `${caller.user} (C_SetPIN), attempt ${reserved.attempt} of ${max}${reserved.attempt >= max ? '; account locked' : ''}`, result: row.wrongPinError }], result: undefined }));
      throw new HsmError(row.wrongPinError, 'C_SetPIN: the old PIN is not right');
    }
    return this.changePassword(ctx, caller.role, caller.user, newPassword, { oldProved: true, action: 'setPin' });
  }

  async deleteUser(ctx: CallContext, name: string): Promise<void> {
    const caller = requireRole(ctx, ['CO'], 'deleting a user');
    if (caller.user === name) throw new HsmError('ERR_NOT_PERMITTED', 'a crypto officer cannot delete itself');
    const owned = (await this.k.state.objects()).filter((o) => o.obj.owner === name && o.obj.lease === 0).length;
    if (owned > 0) throw new HsmError('ERR_NOT_PERMITTED', `user ${name} owns ${owned} object(s); they must be deleted first`);
    await this.k.txn.mutate(async () => {
      /* A retry of a delete that committed (its answer lost) answers success, not "no user". */
      const prior = await this.k.txn.priorResult<null>(ctx, 'deleteUser');
      if (prior.found) return { result: undefined };
      const cur = await this.k.state.user(name);
      if (!cur) throw new HsmError('ERR_USER_NOT_FOUND', `no user named ${name}`);
      if (cur.rec.role === 'PRECO' || cur.rec.role === 'CO') {
        const officers = (await this.listUsers()).filter((u) => u.role === 'CO' || u.role === 'PRECO');
        if (officers.length <= 1) throw new HsmError('ERR_NOT_PERMITTED', 'the last crypto officer cannot be deleted');
      }
      return {
        compare: [{ key: PATH.user(name), op: 'version-eq', version: cur.version }, ...prior.compare],
        ops: [{ op: 'delete', key: PATH.user(name) }, ...prior.ops(null)],
        events: [{ user: caller.user, role: caller.role, action: 'deleteUser', detail: name, result: 'ok' }],
        result: undefined,
      };
    });
  }

  async unlockUser(ctx: CallContext, name: string): Promise<UserInfo> {
    const caller = requireRole(ctx, ['CO'], 'unlocking a user');
    return this.k.txn.mutate(async () => {
      const cur = await this.k.state.user(name);
      if (!cur) throw new HsmError('ERR_USER_NOT_FOUND', `no user named ${name}`);
      const rec: UserRecord = { ...cur.rec, failures: 0, locked: false };
      return {
        compare: [{ key: PATH.user(name), op: 'version-eq', version: cur.version }],
        ops: [{ op: 'put', key: PATH.user(name), value: enc(rec) }],
        events: [{ user: caller.user, role: caller.role, action: 'unlockUser', detail: name, result: 'ok' }],
        result: userInfo(rec),
      };
    });
  }

  async listUsers(): Promise<UserInfo[]> {
    return (await this.k.state.users()).map((u) => userInfo(u.rec)).sort((a, b) => a.id - b.id);
  }

  async getUserInfo(name: string): Promise<UserInfo> {
    const u = await this.k.state.user(name);
    if (!u) throw new HsmError('ERR_USER_NOT_FOUND', `no user named ${name}`);
    return userInfo(u.rec);
  }
}
