/**
 * @module The node's TLS identity from the partition's ownership state
 * (onboarding in the Azure Cloud HSM guides): before the claim a node presents
 * a self-signed certificate for the partition key ("unencrypted mode"); once
 * the owner stored PO.crt (slot 4) and POAC.crt (slot 8) every node presents
 * the chain [POAC, PO] ("E2E enabled"), and clients verify it against their
 * copy of PO.crt. `getCertReq` is the partition CSR for that key.
 *
 * The state itself — the key, the certificates, the partition record — is the
 * core's (hsm-core/src/partition/ownership.ts), stored and audited there in
 * one transaction per change; this module only reads it through the
 * partition and builds what TLS needs.
 */
import { createPrivateKey, type KeyObject } from 'node:crypto';
import type { CallContext, Partition } from '../../hsm-core/src/partition.js';
import { PATH } from '../../hsm-core/src/partition/records.js';
import { SLOT_PO, SLOT_POAC, certificatePem, type OwnershipMode } from '../../hsm-core/src/partition/ownership.js';
import { partitionCsrPem, partitionSubject, selfSignedCertPem } from './partition_cert.js';

export { SLOT_PO, SLOT_POAC };
export type Mode = OwnershipMode;

/** The store prefix a node watches for a claim made through another node. */
export const CERTS_PREFIX = PATH.certs;

export interface TlsCredentials {
  readonly mode: Mode;
  readonly key: string;
  /** PEM: the leaf first, then the PO trust anchor in E2E mode. */
  readonly cert: string;
}

export class Ownership {
  private readonly partition: Partition;
  private keyPem: string | undefined;
  private key: KeyObject | undefined;
  private selfSigned: string | undefined;
  private claimed = false;

  constructor(partition: Partition) {
    this.partition = partition;
  }

  /** The partition key, created once for the whole cluster (by the core; nodes may race: first write wins). */
  async partitionKey(): Promise<KeyObject> {
    const pem = await this.partition.partitionKeyPem();
    /* restorePartition may have replaced the partition key (and the certificates) under every node. */
    if (pem !== this.keyPem) {
      this.keyPem = pem;
      this.key = createPrivateKey(pem);
      this.selfSigned = undefined;
    }
    return this.key!;
  }

  cert(slot: number): Promise<Buffer | undefined> {
    return this.partition.ownershipCert(slot);
  }

  /** True once mode() has seen the partition claimed: it is 'e2e' from then on, known without a call. */
  get claimedForGood(): boolean {
    return this.claimed;
  }

  /** Claimed once is claimed for good (the POAC slot is write-once), so only the unclaimed state reads the store. */
  async mode(): Promise<Mode> {
    if (this.claimed) return 'e2e';
    this.claimed = (await this.partition.ownershipMode()) === 'e2e';
    return this.claimed ? 'e2e' : 'unencrypted';
  }

  private async subject(): Promise<Buffer> {
    const rec = await this.partition.partitionRecord();
    return partitionSubject(rec.serial, 1);
  }

  /** What the node presents over TLS in its current state. */
  async tlsCredentials(now: Date): Promise<TlsCredentials> {
    const key = await this.partitionKey();
    const keyPem = this.keyPem!;
    const poac = await this.cert(SLOT_POAC);
    const po = await this.cert(SLOT_PO);
    if (poac && po) return { mode: 'e2e', key: keyPem, cert: certificatePem(poac) + certificatePem(po) };
    this.selfSigned ??= selfSignedCertPem(key, await this.subject(), now, 3650);
    return { mode: 'unencrypted', key: keyPem, cert: this.selfSigned };
  }

  /** getCertReq: the partition CSR, PEM. */
  async certReq(): Promise<string> {
    return partitionCsrPem(await this.partitionKey(), await this.subject());
  }

  /** storeCert, in the core (one audited transaction). Returns true when E2E mode has just been enabled. */
  storeCert(ctx: CallContext, slot: number, bytes: Uint8Array): Promise<boolean> {
    return this.partition.storeCert(ctx, slot, bytes);
  }
}
