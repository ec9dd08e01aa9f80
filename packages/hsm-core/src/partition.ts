/**
 * @module The HSM partition: users, objects, policy, key use, audit.
 *
 * This is the pure core of one partition. It does no I/O of its own: durable
 * state lives behind the barrier in an injected store, time comes from an
 * injected clock, and node:crypto is reached only through crypto/node.ts.
 * Every node of a cluster runs one Partition over the same store; nothing here
 * depends on which node serves a request (handles, lockout counters and the
 * audit chain all live in the store and change only by compare-and-swap).
 *
 * `Partition` is a façade over its parts, one module each:
 *   partition/records.ts   storage paths and record codecs
 *   partition/txn.ts       the transaction engine (CAS + audit record in one transaction)
 *   partition/state.ts     reading users, objects and the partition record
 *   partition/material.ts  unmasked key material (KeyObjects), bounded
 *   partition/ownership.ts the partition key and certificates (claiming), audited
 *   users/accounts.ts      sign-in, lockout, user management
 *   objects/lifecycle.ts   create, generate, copy, find, change, share, destroy
 *   keyuse.ts              sign, verify, encrypt, decrypt, digest, wrap, unwrap, derive
 *   audit/store_chain.ts   the store's chain of state-change records
 *   audit/use_log.ts       where key-use records go
 *   users/sessions.ts      sessions and the user each is bound to
 *   authz/door.ts          what a request may ask before sign-in, in limited mode, by role
 *   cluster/joins.ts       a new node's join: its request, a CO's approval, the wrapped masking key
 *   authz/partition_policy.ts  the policies a CO sets (DEFAULT_WRAP_WITH_TRUSTED)
 *
 * The barrier is the core's own: nothing outside hsm-core reads or writes the
 * store through it (tools/check-imports.ts checks that no other package names
 * `Partition.barrier`), so every write is one of the audited changes here.
 *
 * Entry points mirror the PKCS#11 functions (PKCS#11 v2.40 Base §5) and the
 * Azure user-management commands; each takes a CallContext saying who calls.
 */
import type { KeyValueStore } from '../../store/src/types.js';
import { Barrier } from './barrier/barrier.js';
import { randomBytes } from './crypto/node.js';
import type { AuditRecord, ChainVerdict } from './audit/audit.js';
import { StoreAuditChain } from './audit/store_chain.js';
import { StoreUseLog, type UseLog } from './audit/use_log.js';
import type { Attribute } from './objects/attributes.js';
import { ObjectLifecycle } from './objects/lifecycle.js';
import { getMechanism, listMechanisms } from './mechanisms/index.js';
import * as P from '../../protocol/src/pkcs11.js';
import { KeyUse } from './keyuse.js';
import type { MultiPart, MultiPartKind } from './mechanisms/types.js';
import { Accounts } from './users/accounts.js';
import { Sessions } from './users/sessions.js';
import { DEFAULT_CONFIG, type AttributeResult, type CallContext, type MechanismRequest, type PartitionConfig, type Principal } from './partition/context.js';
import type { Kernel, RefusedSignIn } from './partition/kernel.js';
import { MaterialCache } from './partition/material.js';
import { PATH, FIRST_HANDLE, dec, enc, type PartitionRecord } from './partition/records.js';
import { PartitionState } from './partition/state.js';
import { PartitionOwnership, type OwnershipMode } from './partition/ownership.js';
import { TxnEngine } from './partition/txn.js';
import type { UserInfo, UserRecord } from './users/users.js';
import type { ResetChallenge } from './users/officer_reset.js';
import { hashPassword } from './users/users.js';
import { PartitionBackup } from './backup/partition_backup.js';
import { policyRow, policyValue, policyValues } from './authz/partition_policy.js';
import { parseProfile, profileOf, settingsOf, type ProfileName, type ProfileSettings } from './authz/profile.js';
import { CKR_OF, HsmError } from '../../protocol/src/errors.js';
import { requireRole } from './users/roles.js';
import type { BackupHeader } from './backup/format.js';
import { NodeJoins } from './cluster/joins.js';

export { PATH, FIRST_HANDLE, DEFAULT_CONFIG };
export type { AttributeResult, CallContext, MechanismRequest, PartitionConfig, PartitionRecord, Principal, RefusedSignIn };

export const FACTORY_PRECO = { name: 'admin', password: 'tenantadmin' } as const;

export interface PartitionOptions {
  store: KeyValueStore;
  maskingKey: Uint8Array;
  clock?: () => number;
  config?: Partial<PartitionConfig>;
  /** Where key-use records go; by default into the store's chain. */
  useLog?: (txn: TxnEngine) => UseLog;
  /** A monotonic clock (ms) for the freshness of the in-memory state; defaults to `clock`. */
  monotonic?: () => number;
  /** A read of the in-memory state older than this catches up with the store first (ms). */
  freshnessMs?: number;
  /** Told of unreadable records and resyncs (for the node's log); never given secrets. */
  onProblem?: (message: string) => void;
  /** Told of sign-ins refused without a store write: an unknown user, a locked account (for the node's log). */
  onRefusedSignIn?: (e: RefusedSignIn) => void;
  /** The caller's timer (the core has none): bounds the waits for the in-memory state and retries its failed reloads (partition/state.ts). */
  schedule?: (ms: number, fn: () => void) => () => void;
  /** With `schedule`: the longest wait for the in-memory state to apply a revision (ms; default APPLY_WAIT_MS in partition/state.ts). */
  applyWaitMs?: number;
  /**
   * The profile of a partition initialised by this open (authz/profile.ts; default azure). A
   * partition that already exists keeps its own; naming another one is an error.
   */
  profile?: ProfileName;
}

/** Default freshness bound of the in-memory state (ms); docs/consistency.md. */
export const DEFAULT_FRESHNESS_MS = 50;

export class Partition {
  readonly config: PartitionConfig;
  private readonly k: Kernel;
  private readonly accounts: Accounts;
  private readonly objects: ObjectLifecycle;
  private readonly keys: KeyUse;
  private readonly chain: StoreAuditChain;
  private readonly backups: PartitionBackup;
  private readonly sessions: Sessions;
  private readonly joins: NodeJoins;
  private readonly ownership: PartitionOwnership;

  private constructor(k: Kernel) {
    this.k = k;
    this.config = k.config;
    this.accounts = new Accounts(k);
    this.objects = new ObjectLifecycle(k);
    this.keys = new KeyUse(k, this.objects);
    this.chain = new StoreAuditChain(k.barrier);
    this.backups = new PartitionBackup(k);
    this.sessions = new Sessions(k);
    this.joins = new NodeJoins(k);
    this.ownership = new PartitionOwnership(k);
  }

  /**
   * Open the partition over a store, creating the factory state (PRECO
   * admin/tenantadmin) the first time. Safe when several nodes race to do so.
   */
  static async open(opts: PartitionOptions): Promise<Partition> {
    const barrier = await Barrier.open(opts.store, opts.maskingKey);
    const clock = opts.clock ?? Date.now;
    const txn = new TxnEngine(barrier, clock);
    const material = new MaterialCache();
    const state = new PartitionState(barrier, material, {
      monotonic: opts.monotonic ?? clock,
      freshnessMs: opts.freshnessMs ?? DEFAULT_FRESHNESS_MS,
      ...(opts.onProblem ? { onProblem: opts.onProblem } : {}),
      ...(opts.schedule ? { schedule: opts.schedule } : {}),
      ...(opts.applyWaitMs !== undefined ? { applyWaitMs: opts.applyWaitMs } : {}),
    });
    txn.afterCommit = (revision) => state.waitApplied(revision);
    txn.beforeRetry = () => state.sync();
    txn.beforeReplay = () => state.sync();
    const k: Kernel = {
      barrier, config: { ...DEFAULT_CONFIG, ...opts.config }, clock, txn, state, material,
      useLog: opts.useLog ? opts.useLog(txn) : new StoreUseLog(txn),
      onRefusedSignIn: opts.onRefusedSignIn,
    };
    const p = new Partition(k);
    await state.start();
    try {
      await p.initialiseFactoryState(opts.profile === undefined ? undefined : parseProfile(opts.profile));
    } catch (e) {
      state.stop();
      throw e;
    }
    return p;
  }

  /** State changes this node had to rebuild because another node committed first (partition/txn.ts). */
  get commitConflicts(): number {
    return this.k.txn.conflicts;
  }

  /** The in-memory state (revision applied, catching up). */
  get state(): PartitionState {
    return this.k.state;
  }

  /** The revision of the last change committed through this partition. */
  get lastCommitted(): number {
    return this.k.txn.lastCommitted;
  }

  /** Stop following the store (the store itself is closed by its owner). */
  close(): void {
    this.k.state.stop();
  }

  private async initialiseFactoryState(profile: ProfileName | undefined): Promise<void> {
    const existing = async (): Promise<boolean> => {
      const e = await this.k.barrier.get(PATH.partition);
      if (!e) return false;
      const have = profileOf(dec<PartitionRecord>(e.value));
      if (profile !== undefined && have !== profile) throw new HsmError('ERR_PARTITION_STATE', `this partition was initialised with the profile ${have}; a profile is chosen once, at initialisation (asked for ${profile})`);
      return true;
    };
    if (await existing()) return;
    const hashed = await hashPassword(FACTORY_PRECO.password, this.k.config.scrypt);
    const preco: UserRecord = { name: FACTORY_PRECO.name, role: 'PRECO', id: 1, ...hashed, failures: 0, locked: false, created: this.k.clock() };
    const rec: PartitionRecord = { version: 1, created: this.k.clock(), state: 'factory', serial: randomBytes(15).toString('hex').toUpperCase(), ...(profile !== undefined ? { profile } : {}) };
    await this.k.txn.mutate(async () => ({
      compare: [{ key: PATH.partition, op: 'absent' }],
      ops: [
        { op: 'put', key: PATH.partition, value: enc(rec) },
        { op: 'put', key: PATH.user(preco.name), value: enc(preco) },
        { op: 'put', key: PATH.nextUserId, value: enc({ next: 2 }) },
        { op: 'put', key: PATH.nextHandle, value: enc({ next: FIRST_HANDLE }) },
      ],
      events: [{ user: '', role: '', action: 'initialisePartition', detail: `profile ${profileOf(rec)}`, result: 'ok' }],
      result: undefined,
      /* Another node initialised it first: that is fine (if it chose the same profile). */
      onConflict: async () => ((await existing()) ? 'done' : 'retry'),
    }));
  }

  async partitionRecord(): Promise<PartitionRecord> {
    return (await this.k.state.requirePartition()).rec;
  }

  /** The partition record as this node has applied it, without waiting to catch up with the store (status, health checks). */
  async partitionRecordApplied(): Promise<PartitionRecord> {
    return this.k.state.partitionApplied()?.rec ?? this.partitionRecord();
  }

  /* ─────────────────────────────── ownership ─────────────────────────────── */

  /** The partition key (PKCS#8 PEM) the nodes present over TLS, created once for the cluster (audited). */
  partitionKeyPem(): Promise<string> { return this.ownership.partitionKeyPem(); }
  /** The certificate in a slot (4 PO.crt, 8 POAC.crt), PEM, if stored. */
  ownershipCert(slot: number): Promise<Buffer | undefined> { return this.ownership.cert(slot); }
  /** 'e2e' once POAC.crt is stored, 'unencrypted' before. */
  ownershipMode(): Promise<OwnershipMode> { return this.ownership.mode(); }
  /** storeCert: the certificate, the partition state and the audit record in one transaction; true when E2E mode was just enabled. */
  storeCert(ctx: CallContext, slot: number, cert: Uint8Array): Promise<boolean> { return this.ownership.storeCert(ctx, slot, cert); }

  /** Every partition policy's value (authz/partition_policy.ts). */
  async getPolicy(): Promise<{ name: string; value: number }[]> {
    return policyValues((await this.k.state.requirePartition()).rec.policy);
  }

  /** The partition's profile (authz/profile.ts), chosen at initialisation. */
  async profile(): Promise<ProfileName> {
    return profileOf((await this.k.state.requirePartition()).rec);
  }

  /** The partition profile's settings, for the node's door. */
  async profileSettings(): Promise<ProfileSettings> {
    return settingsOf((await this.k.state.requirePartition()).rec);
  }

  /**
   * What hello says of the profile: its name and the CK_RV of a wrong PIN (so the PKCS#11 module
   * answers a PIN it cannot even send as the partition answers a wrong one). From the state this
   * node has applied (the profile never changes after initialisation); empty before it has any.
   */
  profileHello(): { profile?: string; wrongPinRv?: number; setPin?: boolean } {
    const rec = this.k.state.partitionApplied()?.rec;
    if (!rec) return {};
    const row = settingsOf(rec);
    return { profile: profileOf(rec), wrongPinRv: CKR_OF[row.wrongPinError], setPin: row.setPin };
  }

  /**
   * A crypto officer sets a partition policy: one transaction on the partition
   * record with its audit record, so every node decides on the same value.
   */
  async setPolicy(ctx: CallContext, name: string, value: number): Promise<{ name: string; value: number }[]> {
    const caller = requireRole(ctx, ['CO'], 'setting a partition policy');
    const row = policyRow(name);
    const v = policyValue(row, value);
    return this.k.txn.mutate(async () => {
      /* A retry with the same request id (mgmt_util sends one to every server) changes nothing more. */
      const prior = await this.k.txn.priorResult<{ name: string; value: number }[]>(ctx, 'setPolicy');
      if (prior.found) return { result: prior.result };
      const e = await this.k.state.requirePartition();
      const rec: PartitionRecord = { ...e.rec, policy: { ...e.rec.policy, [row.field]: v === 1 } };
      const result = policyValues(rec.policy);
      return {
        compare: [{ key: PATH.partition, op: 'version-eq', version: e.version }, ...prior.compare],
        ops: [{ op: 'put', key: PATH.partition, value: enc(rec) }, ...prior.ops(result)],
        events: [{ user: caller.user, role: caller.role, action: 'setPolicy', detail: `${row.name}=${v}`, result: 'ok' }],
        result,
      };
    });
  }

  /* ───────────────────────────────── users ───────────────────────────────── */

  login(name: string, password: string, role?: string): Promise<Principal> { return this.accounts.login(name, password, role); }
  createUser(ctx: CallContext, role: string, name: string, password: string): Promise<UserInfo> { return this.accounts.createUser(ctx, role, name, password); }
  changePassword(ctx: CallContext, role: string, name: string, newPassword: string): Promise<UserInfo> { return this.accounts.changePassword(ctx, role, name, newPassword); }
  setPin(ctx: CallContext, oldPin: string, newPin: string): Promise<UserInfo> { return this.accounts.setPin(ctx, oldPin, newPin); }
  deleteUser(ctx: CallContext, name: string): Promise<void> { return this.accounts.deleteUser(ctx, name); }
  unlockUser(ctx: CallContext, name: string): Promise<UserInfo> { return this.accounts.unlockUser(ctx, name); }
  officerResetChallenge(name: string): Promise<ResetChallenge> { return this.accounts.officerResetChallenge(name); }
  resetOfficerPassword(poCert: Uint8Array | undefined, name: string, newPassword: string, time: number, signature: Uint8Array): Promise<UserInfo> { return this.accounts.resetOfficerPassword(poCert, name, newPassword, time, signature); }
  listUsers(): Promise<UserInfo[]> { return this.accounts.listUsers(); }
  getUserInfo(name: string): Promise<UserInfo> { return this.accounts.getUserInfo(name); }

  /* ──────────────────────────────── sessions ──────────────────────────────── */

  openSession(principal: Principal | undefined, ttlMs: number): Promise<number> { return this.sessions.open(principal, ttlMs); }
  useSession(principal: Principal | undefined, session: number): Promise<void> { return this.sessions.use(principal, session); }
  releaseSessions(principal: Principal, sessions: readonly number[]): Promise<void> { return this.sessions.release(principal, sessions); }
  closeSession(principal: Principal | undefined, formerUsers: ReadonlySet<string>, session: number, creator?: number): Promise<void> { return this.sessions.close(principal, formerUsers, session, creator); }

  /* ──────────────────────────────── objects ──────────────────────────────── */

  createObject(ctx: CallContext, template: readonly Attribute[]): Promise<number> { return this.objects.createObject(ctx, template); }
  generateKey(ctx: CallContext, mech: MechanismRequest, template: readonly Attribute[]): Promise<number> { return this.objects.generateKey(ctx, mech, template); }
  generateKeyPair(ctx: CallContext, mech: MechanismRequest, publicTemplate: readonly Attribute[], privateTemplate: readonly Attribute[]): Promise<{ publicHandle: number; privateHandle: number }> {
    return this.objects.generateKeyPair(ctx, mech, publicTemplate, privateTemplate);
  }
  getAttributeValue(ctx: CallContext, handle: number, types: readonly number[]): Promise<AttributeResult[]> { return this.objects.getAttributeValue(ctx, handle, types); }
  setAttributeValue(ctx: CallContext, handle: number, template: readonly Attribute[]): Promise<void> { return this.objects.setAttributeValue(ctx, handle, template); }
  destroyObject(ctx: CallContext, handle: number): Promise<void> { return this.objects.destroyObject(ctx, handle); }
  copyObject(ctx: CallContext, handle: number, template: readonly Attribute[]): Promise<number> { return this.objects.copyObject(ctx, handle, template); }
  findObjects(ctx: CallContext, template: readonly Attribute[]): Promise<number[]> { return this.objects.findObjects(ctx, template); }
  shareKey(ctx: CallContext, handle: number, users: readonly string[], share: boolean): Promise<string[]> { return this.objects.shareKey(ctx, handle, users, share); }
  keyInfo(ctx: CallContext, handle: number): Promise<{ owner: string; shared: readonly string[]; token: boolean }> { return this.objects.keyInfo(ctx, handle); }

  /* ─────────────────────────────── key use ─────────────────────────────── */

  sign(ctx: CallContext, mech: MechanismRequest, handle: number, data: Uint8Array): Promise<Buffer> { return this.keys.sign(ctx, mech, handle, data); }
  verify(ctx: CallContext, mech: MechanismRequest, handle: number, data: Uint8Array, signature: Uint8Array): Promise<void> { return this.keys.verify(ctx, mech, handle, data, signature); }
  encrypt(ctx: CallContext, mech: MechanismRequest, handle: number, data: Uint8Array): Promise<Buffer> { return this.keys.encrypt(ctx, mech, handle, data); }
  decrypt(ctx: CallContext, mech: MechanismRequest, handle: number, data: Uint8Array): Promise<Buffer> { return this.keys.decrypt(ctx, mech, handle, data); }
  digest(mech: MechanismRequest, data: Uint8Array): Promise<Buffer> { return this.keys.digest(mech, data); }
  /** A multi-part operation's context, after the single-part call's policy checks (keyuse.ts); keep it in a MultiPartTable (multipart.ts). */
  beginMultiPart(ctx: CallContext, kind: MultiPartKind, mech: MechanismRequest, handle: number | undefined): Promise<MultiPart> { return this.keys.beginMultiPart(ctx, kind, mech, handle); }
  generateRandom(length: number): Promise<Buffer> { return this.keys.generateRandom(length); }
  wrapKey(ctx: CallContext, mech: MechanismRequest, wrappingHandle: number, keyHandle: number): Promise<Buffer> { return this.keys.wrapKey(ctx, mech, wrappingHandle, keyHandle); }
  unwrapKey(ctx: CallContext, mech: MechanismRequest, unwrappingHandle: number, wrapped: Uint8Array, template: readonly Attribute[]): Promise<number> {
    return this.keys.unwrapKey(ctx, mech, unwrappingHandle, wrapped, template);
  }
  deriveKey(ctx: CallContext, mech: MechanismRequest, baseHandle: number, template: readonly Attribute[]): Promise<number> { return this.keys.deriveKey(ctx, mech, baseHandle, template); }

  /* ───────────────────────────── information ───────────────────────────── */

  mechanismList(): number[] {
    return listMechanisms().map((m) => m.mechanism);
  }

  mechanismInfo(mechanism: number): { minKeySize: number; maxKeySize: number; flags: number } {
    const m = getMechanism(mechanism);
    /* CKF_HW: the mechanism runs in the device (this HSM), not in the calling
     * library (PKCS#11 v2.40 §5.5 CK_MECHANISM_INFO); OpenSC's --test looks for it. */
    return { minKeySize: m.minKeySize, maxKeySize: m.maxKeySize, flags: m.flags | P.CKF_HW };
  }

  /** The store's audit records, oldest first; `fromSeq` for paging. */
  auditRecords(fromSeq = 1, limit = 1000): Promise<AuditRecord[]> { return this.chain.records(fromSeq, limit); }

  /** Verify the store's audit chain, naming the first broken link. */
  auditVerify(): Promise<ChainVerdict> { return this.chain.verify(); }

  /** The whole partition as one authenticated, encrypted file (backup/partition_backup.ts); CO only. */
  backupPartition(ctx: CallContext, software: string): Promise<{ backup: Buffer; header: BackupHeader }> { return this.backups.backup(ctx, software); }

  /** Replace a partition that holds no objects with a backup's contents, in one transaction; CO or PRECO. */
  restorePartition(ctx: CallContext, file: Uint8Array): Promise<{ header: BackupHeader; auditSeq: number }> { return this.backups.restore(ctx, file); }

  /* ───────────────────────────── joining nodes ───────────────────────────── */

  /** A CO approves node `node`'s join request by its fingerprint (cluster/joins.ts). */
  approveNode(ctx: CallContext, node: number, fingerprint: string): Promise<{ fingerprint: string; host: string; port: number; already: boolean }> { return this.joins.approve(ctx, node, fingerprint); }

  /** The masking key wrapped for node `node`'s approved join key; refused without an approval (cluster/joins.ts). */
  joinKey(node: number): Promise<Buffer> { return this.joins.wrappedKey(node); }

  /** Wait for queued audit writes (used at shutdown). */
  flush(): Promise<void> { return this.k.useLog.flush(); }
}
