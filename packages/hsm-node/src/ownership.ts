/**
 * @module The partition's ownership state and certificates (onboarding
 * the Azure Cloud HSM guides): the partition key and its CSR (`getCertReq`), the owner's
 * trust anchor PO.crt (`storeCert … 4`, permanent once stored) and the
 * partition certificate POAC.crt that PO.key signed (`storeCert … 8`). From
 * then on every node presents the chain [POAC, PO] over TLS ("E2E enabled"),
 * and clients verify it against their copy of PO.crt.
 *
 * All of it lives in the store behind the barrier, so the three nodes are
 * clones of one partition: one key, one chain.
 */
import { createPrivateKey, generateKeyPairSync, X509Certificate, type KeyObject } from 'node:crypto';
import { HsmError } from '../../protocol/src/errors.js';
import type { CallContext, Partition } from '../../hsm-core/src/partition.js';
import { partitionCsrPem, partitionSubject, selfSignedCertPem } from './partition_cert.js';

export const PATHS = {
  key: 'partition/key',
  cert: (slot: number) => `partition/cert/${slot}`,
  certs: 'partition/cert/',
} as const;

export const SLOT_PO = 4;
export const SLOT_POAC = 8;

export type Mode = 'unencrypted' | 'e2e';

export interface TlsCredentials {
  readonly mode: Mode;
  readonly key: string;
  /** PEM: the leaf first, then the PO trust anchor in E2E mode. */
  readonly cert: string;
}

function toPem(bytes: Uint8Array): string {
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

export class Ownership {
  private readonly partition: Partition;
  private key: KeyObject | undefined;
  private selfSigned: string | undefined;
  private claimed = false;

  constructor(partition: Partition) {
    this.partition = partition;
  }

  /** The partition key, created once for the whole cluster (nodes may race: first write wins). */
  async partitionKey(): Promise<KeyObject> {
    if (this.key) return this.key;
    const b = this.partition.barrier;
    let e = await b.get(PATHS.key);
    if (!e) {
      const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
      const pem = privateKey.export({ format: 'pem', type: 'pkcs8' });
      await b.txn([{ key: PATHS.key, op: 'absent' }], [{ op: 'put', key: PATHS.key, value: Buffer.from(pem) }]);
      e = await b.get(PATHS.key);
    }
    this.key = createPrivateKey(e!.value.toString('utf8'));
    return this.key;
  }

  async cert(slot: number): Promise<Buffer | undefined> {
    return (await this.partition.barrier.get(PATHS.cert(slot)))?.value;
  }

  /** Claimed once is claimed for good (the POAC slot is write-once), so only the unclaimed state reads the store. */
  async mode(): Promise<Mode> {
    if (this.claimed) return 'e2e';
    this.claimed = (await this.cert(SLOT_POAC)) !== undefined;
    return this.claimed ? 'e2e' : 'unencrypted';
  }

  private async subject(): Promise<Buffer> {
    const rec = await this.partition.partitionRecord();
    return partitionSubject(rec.serial, 1);
  }

  /** What the node presents over TLS in its current state. */
  async tlsCredentials(now: Date): Promise<TlsCredentials> {
    /* restorePartition may have replaced the partition key (and the certificates) under every node. */
    const stored = await this.partition.barrier.get(PATHS.key);
    if (stored && this.key && stored.value.toString('utf8') !== this.key.export({ format: 'pem', type: 'pkcs8' }).toString()) {
      this.key = undefined;
      this.selfSigned = undefined;
    }
    const key = await this.partitionKey();
    const keyPem = key.export({ format: 'pem', type: 'pkcs8' }).toString();
    const poac = await this.cert(SLOT_POAC);
    const po = await this.cert(SLOT_PO);
    if (poac && po) return { mode: 'e2e', key: keyPem, cert: toPem(poac) + toPem(po) };
    this.selfSigned ??= selfSignedCertPem(key, await this.subject(), now, 3650);
    return { mode: 'unencrypted', key: keyPem, cert: this.selfSigned };
  }

  /** getCertReq: the partition CSR, PEM. */
  async certReq(): Promise<string> {
    return partitionCsrPem(await this.partitionKey(), await this.subject());
  }

  /**
   * storeCert. Slot 4 (PO.crt) is accepted once, from the PRECO, and never
   * replaced. Slot 8 (POAC.crt) must be signed by the stored PO.crt and certify
   * this partition's key. Returns true when E2E mode has just been enabled.
   */
  async storeCert(ctx: CallContext, slot: number, bytes: Uint8Array): Promise<boolean> {
    const who = ctx.principal;
    if (!who) throw new HsmError('ERR_USER_NOT_LOGGED_IN', 'storeCert needs a signed-in PRECO');
    if (who.role !== 'PRECO') throw new HsmError('ERR_NOT_PERMITTED', `storeCert is for the PRECO, not a ${who.role}`);
    const b = this.partition.barrier;
    if (slot === SLOT_PO) {
      const cert = parseCert(bytes, 'PO.crt');
      if (cert.publicKey.asymmetricKeyType !== 'rsa') throw new HsmError('ERR_ARGUMENTS_BAD', 'PO.crt must hold an RSA key (the partition owner key is RSA 2048)');
      const r = await b.txn([{ key: PATHS.cert(SLOT_PO), op: 'absent' }], [{ op: 'put', key: PATHS.cert(SLOT_PO), value: Buffer.from(toPem(bytes)) }]);
      if (!r.succeeded) throw new HsmError('ERR_ARGUMENTS_BAD', 'the partition owner certificate (slot 4) is already stored and cannot be changed');
      await this.partition.setPartitionState('po-stored', ctx);
      return false;
    }
    if (slot === SLOT_POAC) {
      const po = await this.cert(SLOT_PO);
      if (!po) throw new HsmError('ERR_ARGUMENTS_BAD', 'store the partition owner certificate (slot 4) before the POAC (slot 8)');
      const cert = parseCert(bytes, 'POAC.crt');
      if (!cert.verify(parseCert(po, 'PO.crt').publicKey)) throw new HsmError('ERR_ARGUMENTS_BAD', 'POAC.crt is not signed by the stored partition owner certificate');
      if (!cert.checkPrivateKey(await this.partitionKey())) throw new HsmError('ERR_ARGUMENTS_BAD', 'POAC.crt does not certify this partition\'s key (sign the CSR from getCertReq)');
      const r = await b.txn([{ key: PATHS.cert(SLOT_POAC), op: 'absent' }], [{ op: 'put', key: PATHS.cert(SLOT_POAC), value: Buffer.from(toPem(bytes)) }]);
      if (!r.succeeded) throw new HsmError('ERR_ARGUMENTS_BAD', 'the partition certificate (slot 8) is already stored');
      await this.partition.setPartitionState('e2e', ctx);
      return true;
    }
    throw new HsmError('ERR_ARGUMENTS_BAD', `certificate slot ${slot} cannot be written; use 4 (PO.crt) or 8 (POAC.crt)`);
  }
}
