/**
 * @module The partition's ownership state (claiming, as in the Azure Cloud HSM
 * onboarding guide): the partition key that every node presents over TLS and
 * signs the partition CSR with, the owner's trust anchor PO.crt (`storeCert …
 * 4`, permanent once stored) and the partition certificate POAC.crt that
 * PO.key signed (`storeCert … 8`, write-once; from then on the partition is in
 * E2E mode).
 *
 * Every change here is one store transaction with its audit record (through
 * the transaction engine): storing a certificate and moving the partition
 * record's state commit together, so no node can ever see a stored POAC with
 * a partition still in "po-stored", nor a change without its record. The
 * records live behind the barrier like everything else the core writes
 * (docs/storage-format.md §2), so the nodes of a cluster are clones of one
 * partition: one key, one chain.
 *
 * The node builds its TLS identity (CSR, self-signed certificate) from what
 * this module reads; it never writes these paths itself.
 */
import { HsmError } from '../../../protocol/src/errors.js';
import { createPrivateKey, generateKeyPairSync, X509Certificate, type KeyObject } from '../crypto/node.js';
import type { CallContext } from './context.js';
import type { Kernel } from './kernel.js';
import { PATH, enc, type PartitionRecord } from './records.js';

/** The certificate slots of `storeCert`/`getCert`: PO.crt and POAC.crt. */
export const SLOT_PO = 4;
export const SLOT_POAC = 8;

/** The partition's TLS mode: before the claim, and after POAC.crt is stored. */
export type OwnershipMode = 'unencrypted' | 'e2e';

/** PEM text of a certificate given as PEM or DER. */
export function certificatePem(bytes: Uint8Array): string {
  const s = Buffer.from(bytes).toString('latin1');
  if (s.includes('-----BEGIN CERTIFICATE-----')) return s.trim() + '\n';
  return new X509Certificate(Buffer.from(bytes)).toString();
}

function parseCert(bytes: Uint8Array, what: string): X509Certificate {
  try {
    return new X509Certificate(Buffer.from(bytes));
  } catch (cause) {
    throw new HsmError('ERR_ARGUMENTS_BAD', `${what} is not an X.509 certificate (PEM or DER)`, { cause });
  }
}

export class PartitionOwnership {
  constructor(private readonly k: Kernel) {}

  /**
   * The partition key (PKCS#8 PEM), created once for the whole cluster. Nodes
   * may race at their first start: the first transaction wins and the others
   * read its key.
   */
  async partitionKeyPem(): Promise<string> {
    const stored = await this.k.barrier.get(PATH.partitionKey);
    if (stored) return stored.value.toString('utf8');
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pem = Buffer.from(privateKey.export({ format: 'pem', type: 'pkcs8' }));
    await this.k.txn.mutate(async () => ({
      compare: [{ key: PATH.partitionKey, op: 'absent' }],
      ops: [{ op: 'put', key: PATH.partitionKey, value: pem }],
      events: [{ user: '', role: '', action: 'createPartitionKey', result: 'ok' }],
      result: undefined,
      /* Another node created it first: its key is the partition's. */
      onConflict: async () => ((await this.k.barrier.get(PATH.partitionKey)) ? 'done' : 'retry'),
    }));
    const e = await this.k.barrier.get(PATH.partitionKey);
    if (!e) throw new HsmError('ERR_STORE', 'the partition key was written but cannot be read back');
    return e.value.toString('utf8');
  }

  /** The certificate stored in a slot (PEM bytes), if any. */
  async cert(slot: number): Promise<Buffer | undefined> {
    return (await this.k.barrier.get(PATH.cert(slot)))?.value;
  }

  async mode(): Promise<OwnershipMode> {
    return (await this.cert(SLOT_POAC)) !== undefined ? 'e2e' : 'unencrypted';
  }

  /**
   * storeCert. Slot 4 (PO.crt) is accepted once, from the PRECO, and never
   * replaced. Slot 8 (POAC.crt) must be signed by the stored PO.crt and certify
   * this partition's key. The certificate, the partition record's new state and
   * the audit record commit in one transaction. Returns true when E2E mode has
   * just been enabled.
   */
  async storeCert(ctx: CallContext, slot: number, bytes: Uint8Array): Promise<boolean> {
    const who = ctx.principal;
    if (!who) throw new HsmError('ERR_USER_NOT_LOGGED_IN', 'storeCert needs a signed-in PRECO');
    if (who.role !== 'PRECO') throw new HsmError('ERR_NOT_PERMITTED', `storeCert is for the PRECO, not a ${who.role}`);
    let state: PartitionRecord['state'];
    if (slot === SLOT_PO) {
      const cert = parseCert(bytes, 'PO.crt');
      if (cert.publicKey.asymmetricKeyType !== 'rsa') throw new HsmError('ERR_ARGUMENTS_BAD', 'PO.crt must hold an RSA key (the partition owner key is RSA 2048)');
      state = 'po-stored';
    } else if (slot === SLOT_POAC) {
      const po = await this.cert(SLOT_PO);
      if (!po) throw new HsmError('ERR_ARGUMENTS_BAD', 'store the partition owner certificate (slot 4) before the POAC (slot 8)');
      const cert = parseCert(bytes, 'POAC.crt');
      if (!cert.verify(parseCert(po, 'PO.crt').publicKey)) throw new HsmError('ERR_ARGUMENTS_BAD', 'POAC.crt is not signed by the stored partition owner certificate');
      if (!cert.checkPrivateKey(await this.partitionKeyObject())) throw new HsmError('ERR_ARGUMENTS_BAD', 'POAC.crt does not certify this partition\'s key (sign the CSR from getCertReq)');
      state = 'e2e';
    } else {
      throw new HsmError('ERR_ARGUMENTS_BAD', `certificate slot ${slot} cannot be written; use 4 (PO.crt) or 8 (POAC.crt)`);
    }
    const pem = Buffer.from(certificatePem(bytes));
    await this.k.txn.mutate(async () => {
      /* A retry of a store that committed (its answer lost) answers success, not "already stored". */
      const prior = await this.k.txn.priorResult<null>(ctx, 'storeCert');
      if (prior.found) return { result: undefined };
      if (await this.k.barrier.get(PATH.cert(slot))) {
        throw new HsmError('ERR_ARGUMENTS_BAD', slot === SLOT_PO
          ? 'the partition owner certificate (slot 4) is already stored and cannot be changed'
          : 'the partition certificate (slot 8) is already stored');
      }
      const part = await this.k.state.requirePartition();
      return {
        compare: [
          { key: PATH.cert(slot), op: 'absent' },
          { key: PATH.partition, op: 'version-eq', version: part.version },
          ...prior.compare,
        ],
        ops: [
          { op: 'put', key: PATH.cert(slot), value: pem },
          { op: 'put', key: PATH.partition, value: enc({ ...part.rec, state }) },
          ...prior.ops(null),
        ],
        events: [this.k.txn.event(ctx, 'storeCert', { detail: `slot ${slot}, partition ${state}` })],
        result: undefined,
      };
    });
    return slot === SLOT_POAC;
  }

  private async partitionKeyObject(): Promise<KeyObject> {
    return createPrivateKey(await this.partitionKeyPem());
  }
}
