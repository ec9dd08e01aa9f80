/**
 * @module Sessions and who they belong to. A session number is a store lease
 * (valid on every node); `sess/<lease>`, attached to that lease, records the
 * user it is bound to: the signed-in opener, or — for a session opened before
 * sign-in, as PKCS#11 applications do (C_OpenSession before C_Login) — the
 * first signed-in user that uses it. (A closed or unknown session holds
 * nothing: a request naming one simply finds no session objects.) Once bound, only that user uses it, and
 * only that user, or a connection that was signed in as that user, closes it
 * (an application may sign out before it closes its sessions). A stranger
 * who guesses a session number gets ERR_NOT_PERMITTED and changes nothing.
 *
 * A PKCS#11 application's sessions outlive its C_Logout and serve whoever it
 * signs in as next (the sign-in is the application's, not the session's), so
 * a sign-out may name the sessions the application keeps open: those bound
 * to the user signing out are unbound (`release`), and the next signed-in user
 * of the application binds them at first use as above.
 */
import { HsmError } from '../../../protocol/src/errors.js';
import type { Principal } from '../partition/context.js';
import type { Kernel } from '../partition/kernel.js';
import { PATH, enc } from '../partition/records.js';
import type { Compare } from '../../../store/src/types.js';
import type { BarrierOp } from '../barrier/barrier.js';

export class Sessions {
  constructor(private readonly k: Kernel) {}

  /** Open a session (a lease of `ttlMs`), bound to the caller if signed in. */
  async open(principal: Principal | undefined, ttlMs: number): Promise<number> {
    const lease = await this.k.barrier.store.grantLease(ttlMs);
    await this.k.txn.mutate(async () => ({
      ops: [{ op: 'put', key: PATH.session(lease), value: enc({ owner: principal?.user ?? '' }), lease }],
      result: undefined,
    }));
    return lease;
  }

  /**
   * May this caller act in session `lease`? Binds an unbound session to the
   * first signed-in user. Unknown (closed, expired) sessions are refused.
   */
  async use(principal: Principal | undefined, lease: number): Promise<void> {
    if (!Number.isSafeInteger(lease) || lease < 1) throw new HsmError('ERR_ARGUMENTS_BAD', `session ${String(lease)} is not a session number`);
    for (let attempt = 0; attempt < 3; attempt++) {
      const s = await this.k.state.sessionFor(lease);
      /* Closed or expired: its objects are gone, and creating one in it fails at the store. */
      if (!s) return;
      const me = principal?.user ?? '';
      if (s.rec.owner === me) return;
      if (s.rec.owner !== '') throw new HsmError('ERR_NOT_PERMITTED', `session ${lease} belongs to another user`);
      if (!principal) return; /* unbound, and the caller is not signed in: nothing to bind */
      const bound = await this.k.barrier.txn(
        [{ key: PATH.session(lease), op: 'version-eq', version: s.version }],
        [{ op: 'put', key: PATH.session(lease), value: enc({ owner: me }), lease }],
      ).then((r) => r.succeeded, () => false);
      if (bound) {
        await this.k.state.sync();
        return;
      }
      await this.k.state.sync();
    }
    throw new HsmError('ERR_STORE', `session ${lease} could not be bound; try again`);
  }

  /**
   * Unbind the sessions in `leases` that are bound to `principal` (at sign-out).
   * Sessions of other users, unbound, closed or unknown ones are left as they are.
   */
  async release(principal: Principal, leases: readonly number[]): Promise<void> {
    for (const lease of leases) {
      if (!Number.isSafeInteger(lease) || lease < 1) throw new HsmError('ERR_ARGUMENTS_BAD', `session ${String(lease)} is not a session number`);
    }
    let changed = false;
    for (const lease of leases) {
      const s = await this.k.state.sessionFor(lease);
      if (!s || s.rec.owner !== principal.user) continue;
      const r = await this.k.barrier.txn(
        [{ key: PATH.session(lease), op: 'version-eq', version: s.version }],
        [{ op: 'put', key: PATH.session(lease), value: enc({ owner: '' }), lease }],
      ).catch((e: unknown) => {
        throw new HsmError('ERR_STORE', `releasing session ${lease} failed: ${(e as Error)?.message ?? String(e)}`, { cause: e });
      });
      changed ||= r.succeeded;
    }
    if (changed) await this.k.state.sync();
  }

  /**
   * Close a session: its owner, or a connection once signed in as its owner; an unbound one by anyone.
   * With `creator`, only the session objects made with that creator tag are destroyed (one client
   * session of the several that share this cluster session closed); the session stays open.
   */
  async close(principal: Principal | undefined, formerUsers: ReadonlySet<string>, lease: number, creator?: number): Promise<void> {
    if (!Number.isSafeInteger(lease) || lease < 1) throw new HsmError('ERR_ARGUMENTS_BAD', `session ${String(lease)} is not a session number`);
    if (creator !== undefined && (!Number.isSafeInteger(creator) || creator < 0)) throw new HsmError('ERR_ARGUMENTS_BAD', `creator ${String(creator)} is not a creator tag`);
    const s = await this.k.state.sessionFor(lease);
    if (s && s.rec.owner !== '' && s.rec.owner !== principal?.user && !formerUsers.has(s.rec.owner)) {
      throw new HsmError('ERR_NOT_PERMITTED', `session ${lease} belongs to another user; only its owner can close it`);
    }
    if (creator !== undefined) {
      /* Unknown or expired: its objects went with the lease. */
      if (s) await this.destroyCreated(principal, lease, creator);
      return;
    }
    /* Unknown or expired: the keys are gone either way (as revoking an unknown lease). */
    await this.k.barrier.store.revokeLease(lease).catch((e: unknown) => {
      throw new HsmError('ERR_STORE', `closing session ${lease} failed: ${(e as Error)?.message ?? String(e)}`, { cause: e });
    });
    await this.k.state.sync();
  }

  /** Destroy the session objects of `lease` made with `creator`, in one audited transaction (PKCS#11: regardless of CKA_DESTROYABLE). */
  private async destroyCreated(principal: Principal | undefined, lease: number, creator: number): Promise<void> {
    const gone = await this.k.txn.mutate(async () => {
      const mine = (await this.k.state.objects()).filter((r) => r.obj.lease === lease && r.obj.creator === creator);
      const handles = mine.map((r) => r.obj.handle);
      return {
        compare: mine.map((r): Compare => ({ key: PATH.object(r.obj.handle), op: 'version-eq', version: r.version })),
        ops: mine.map((r): BarrierOp => ({ op: 'delete', key: PATH.object(r.obj.handle) })),
        events: handles.length ? [this.k.txn.event({ principal }, 'deleteObject', { handles, detail: 'session objects of a closed session' })] : [],
        result: handles,
      };
    }).catch((e: unknown) => {
      if (e instanceof HsmError) throw e;
      throw new HsmError('ERR_STORE', `destroying the session objects of session ${lease} failed: ${(e as Error)?.message ?? String(e)}`, { cause: e });
    });
    for (const h of gone) this.k.material.drop(h);
  }
}
