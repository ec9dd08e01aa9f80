/**
 * @module A new or replaced node's join (docs/deployment.md §5): the join
 * request it writes, a crypto officer's approval, and the masking key
 * wrapped for it.
 *
 *   sys/join/request/<node>   plain JSON, written by the joining node (it has no masking key),
 *                             on a lease that lapses when nobody approves it in time
 *   sys/join/approved/<node>  masked by the barrier, written by approveNode on the same lease,
 *                             so it vanishes with the request
 *
 * Trust: the store is untrusted and the request is plain, so the request is
 * only a proposal; what counts is the approval, which the barrier
 * authenticates (the store cannot forge or alter it). The approval holds the
 * public key whose fingerprint the officer compared on the new host's
 * console; the masking key is only ever wrapped for that key
 * (../barrier/join_wrap.ts) and never written to the store in any form.
 */
import { HsmError } from '../../../protocol/src/errors.js';
import { JOIN_REQUEST_PREFIX } from '../barrier/barrier.js';
import { joinAad, joinFingerprint, normaliseFingerprint } from '../barrier/join_wrap.js';
import type { CallContext } from '../partition/context.js';
import type { Kernel } from '../partition/kernel.js';
import { enc, dec } from '../partition/records.js';
import { requireRole } from '../users/roles.js';

export const JOIN_PATH = {
  request: (node: number) => `${JOIN_REQUEST_PREFIX}${node}`,
  approved: (node: number) => `sys/join/approved/${node}`,
} as const;

/** Bytes of a join request record at most (it is a few hundred). */
const MAX_REQUEST_BYTES = 2048;
const MAX_NODE_ID = 0x7fffffff;

/** What a joining node writes at sys/join/request/<node>. */
export interface JoinRequest {
  readonly v: 1;
  readonly node: number;
  readonly host: string;
  readonly port: number;
  /** The node's X25519 public key, base64url (32 bytes). */
  readonly publicKey: string;
  readonly fingerprint: string;
  readonly created: number;
}

/** What approveNode writes at sys/join/approved/<node> (masked). */
interface JoinApproval {
  readonly v: 1;
  readonly node: number;
  readonly publicKey: string;
  readonly fingerprint: string;
  readonly approvedBy: string;
  readonly approvedAt: number;
  /** When the masking key was first wrapped for it (joinKey): its one audit record is written then. */
  readonly handedOverAt?: number;
}

export function checkNodeId(node: unknown): number {
  if (typeof node !== 'number' || !Number.isSafeInteger(node) || node < 1 || node > MAX_NODE_ID) throw new HsmError('ERR_ARGUMENTS_BAD', `a node id is an integer from 1 to ${MAX_NODE_ID}`);
  return node;
}

/** The request record a joining node writes (its fingerprint computed here, the one definition). */
export function makeJoinRequest(node: number, host: string, port: number, publicKey: Uint8Array, created: number): JoinRequest {
  return { v: 1, node, host, port, publicKey: Buffer.from(publicKey).toString('base64url'), fingerprint: joinFingerprint(node, publicKey), created };
}

export const encodeJoinRequest = (r: JoinRequest): Buffer => enc(r);

/** A join request read from the (untrusted) store: every field checked, and its fingerprint recomputed. */
export function parseJoinRequest(bytes: Uint8Array, node: number): JoinRequest {
  const bad = (why: string) => new HsmError('ERR_ARGUMENTS_BAD', `the join request of node ${node} in the store is not usable (${why}); start the joining node again to write a new one`);
  if (bytes.length > MAX_REQUEST_BYTES) throw bad('too large');
  let j: Partial<JoinRequest>;
  try {
    j = dec<Partial<JoinRequest>>(bytes);
  } catch {
    throw bad('not JSON');
  }
  if (typeof j !== 'object' || j === null || j.v !== 1) throw bad('unknown format');
  if (j.node !== node) throw bad('it names another node');
  if (typeof j.host !== 'string' || j.host.length === 0 || j.host.length > 255) throw bad('no host');
  if (!Number.isInteger(j.port) || j.port! < 1 || j.port! > 65535) throw bad('no port');
  if (typeof j.publicKey !== 'string' || !/^[A-Za-z0-9_-]{43}$/.test(j.publicKey)) throw bad('no X25519 public key');
  if (typeof j.created !== 'number') throw bad('no creation time');
  const fingerprint = joinFingerprint(node, Buffer.from(j.publicKey, 'base64url'));
  if (j.fingerprint !== fingerprint) throw bad('its fingerprint does not match its key');
  return { v: 1, node, host: j.host, port: j.port!, publicKey: j.publicKey, fingerprint, created: j.created };
}

export class NodeJoins {
  constructor(private readonly k: Kernel) {}

  private async rawRequest(node: number) {
    try {
      return await this.k.barrier.store.get(JOIN_PATH.request(node));
    } catch (e) {
      throw new HsmError('ERR_STORE', `store (${this.k.barrier.store.kind}) failed: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    }
  }

  /**
   * approveNode: a CO approves node `node`'s join request if `fingerprint` is
   * the one in it (the one its console shows). One store transaction with its
   * audit record; a refused fingerprint is audited too. Approving again what
   * is already approved changes nothing (mgmt_util sends it to every server).
   */
  async approve(ctx: CallContext, node: number, fingerprint: string): Promise<{ fingerprint: string; host: string; port: number; already: boolean }> {
    const who = requireRole(ctx, ['CO'], 'approveNode');
    checkNodeId(node);
    const wanted = normaliseFingerprint(fingerprint);
    const out = await this.k.txn.mutate(async () => {
      const raw = await this.rawRequest(node);
      if (!raw) throw new HsmError('ERR_ARGUMENTS_BAD', `node ${node} has no join request: it is not waiting to join, or its request expired; start it with "join" and approve the fingerprint it prints`);
      const req = parseJoinRequest(raw.value, node);
      if (req.fingerprint !== wanted) {
        return { events: [this.k.txn.event(ctx, 'approveNode', { detail: `node ${node}: fingerprint ${wanted} does not match its join request` }, 'ERR_ARGUMENTS_BAD')], result: { req, ok: false, already: false } };
      }
      const cur = await this.k.barrier.get(JOIN_PATH.approved(node));
      if (cur && cur.lease === raw.lease && dec<JoinApproval>(cur.value).fingerprint === req.fingerprint) return { result: { req, ok: true, already: true } };
      const approval: JoinApproval = { v: 1, node, publicKey: req.publicKey, fingerprint: req.fingerprint, approvedBy: who.user, approvedAt: this.k.clock() };
      return {
        /* The request approved is the one read: a new request (new key) in between makes this rebuild. */
        compare: [{ key: JOIN_PATH.request(node), op: 'version-eq', version: raw.version }],
        ops: [{ op: 'put', key: JOIN_PATH.approved(node), value: enc(approval), ...(raw.lease ? { lease: raw.lease } : {}) }],
        events: [this.k.txn.event(ctx, 'approveNode', { detail: `node ${node} at ${req.host}:${req.port}, fingerprint ${req.fingerprint}` })],
        result: { req, ok: true, already: false },
      };
    });
    if (!out.ok) {
      throw new HsmError('ERR_ARGUMENTS_BAD', `fingerprint ${wanted} does not match the join request of node ${node}: compare it again with the fingerprint the joining node printed on its console; nothing was approved`);
    }
    return { fingerprint: out.req.fingerprint, host: out.req.host, port: out.req.port, already: out.already };
  }

  /**
   * joinKey: the masking key wrapped for node `node`'s approved join key.
   * Refused without an approval (nothing written). Whoever asks gets the same
   * kind of answer, which only the holder of the approved private key can
   * open. It is asked before sign-in, so what it writes is bounded by the
   * approvals a CO made: the first answer for an approval marks the approval
   * handed over and writes the one `joinKey` audit record, in one
   * transaction; later asks (the joiner retrying, other nodes, anyone) get
   * the same kind of answer and write nothing.
   */
  async wrappedKey(node: number): Promise<Buffer> {
    checkNodeId(node);
    return this.k.txn.mutate(async () => {
      const e = await this.k.barrier.get(JOIN_PATH.approved(node));
      if (!e) throw new HsmError('ERR_NOT_PERMITTED', `node ${node} has no approved join request; a crypto officer approves it first (azcloudhsm_mgmt_util: approveNode ${node} <fingerprint>)`);
      const a = dec<JoinApproval>(e.value);
      const publicKey = Buffer.from(a.publicKey, 'base64url');
      if (a.node !== node || joinFingerprint(node, publicKey) !== a.fingerprint) throw new HsmError('ERR_BARRIER', `the join approval of node ${node} is inconsistent`);
      const wrapped = this.k.barrier.wrapMaskingKeyFor(publicKey, joinAad(node, a.fingerprint));
      if (a.handedOverAt !== undefined) return { result: wrapped };
      const handed: JoinApproval = { ...a, handedOverAt: this.k.clock() };
      return {
        /* Two first asks at once: one commits the record, the other rebuilds and finds it handed over. */
        compare: [{ key: JOIN_PATH.approved(node), op: 'version-eq', version: e.version }],
        ops: [{ op: 'put', key: JOIN_PATH.approved(node), value: enc(handed), ...(e.lease ? { lease: e.lease } : {}) }],
        events: [{ user: '', role: '', action: 'joinKey', result: 'ok', detail: `masking key wrapped for node ${node}, fingerprint ${a.fingerprint}` }],
        result: wrapped,
      };
    });
  }
}
