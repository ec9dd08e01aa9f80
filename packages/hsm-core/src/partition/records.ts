/**
 * @module Record codecs: the storage paths of a partition and the JSON shape of
 * what is stored under them (docs/storage-format.md). Everything here is
 * plaintext as the core sees it; the barrier masks it before the store does.
 */
import * as P from '../../../protocol/src/pkcs11.js';
import { HsmError } from '../../../protocol/src/errors.js';
import { decodeBool, decodeUlong } from '../objects/attributes.js';
import type { UserRecord } from '../users/users.js';
import type { PartitionPolicy } from '../authz/partition_policy.js';
import type { ProfileName } from '../../../protocol/src/profiles.js';

/* Storage paths (docs/storage-format.md). */
export const PATH = {
  partition: 'sys/partition',
  nextHandle: 'sys/next_handle',
  nextUserId: 'sys/next_user_id',
  auditHead: 'sys/audit/head',
  user: (name: string) => `user/${name}`,
  users: 'user/',
  object: (h: number) => `obj/${String(h).padStart(10, '0')}`,
  objects: 'obj/',
  audit: (seq: number) => `audit/${String(seq).padStart(12, '0')}`,
  audits: 'audit/',
  idem: (id: string) => `idem/${id}`,
  session: (lease: number) => `sess/${String(lease).padStart(12, '0')}`,
  sessions: 'sess/',
  /** The partition key (PKCS#8 PEM), shared by every node (partition/ownership.ts). */
  partitionKey: 'partition/key',
  /** A stored certificate: slot 4 PO.crt, slot 8 POAC.crt (PEM). */
  cert: (slot: number) => `partition/cert/${slot}`,
  certs: 'partition/cert/',
} as const;

/** The first object handle (0x40000), as the real service numbers keys. */
export const FIRST_HANDLE = 262144;

/** The partition record at `sys/partition`. */
export interface PartitionRecord {
  readonly version: 1;
  readonly created: number;
  /** Ownership state; the cluster layer drives claiming (storeCert...). */
  readonly state: 'factory' | 'po-stored' | 'e2e' | 'operational';
  readonly serial: string;
  /** What a crypto officer set with setPolicy (authz/partition_policy.ts); absent: every default. */
  readonly policy?: PartitionPolicy;
  /** The profile chosen at initialisation (authz/profile.ts); absent: azure. Never changed afterwards. */
  readonly profile?: ProfileName;
}

/** What is stored at obj/<handle>, masked by the barrier. */
export interface StoredObject {
  handle: number;
  owner: string;
  shared: string[];
  lease: number;
  /**
   * A session object's creator tag within its session (the request's `creator`:
   * the PKCS#11 module's session handle); `closeSession` with that tag destroys it.
   */
  creator?: number;
  attrs: Map<number, Uint8Array>;
  material?: { kind: 'secret' | 'pkcs8' | 'spki'; bytes: Buffer };
}

/** An object with the store version it was read at (the compare-and-swap token). */
export interface LoadedObject {
  readonly obj: StoredObject;
  readonly version: number;
}

/** What is stored at sess/<lease>, attached to the session's lease: who the session belongs to. */
export interface SessionRecord {
  /** The user the session is bound to; '' while nobody signed in has used it. */
  readonly owner: string;
}

/** A user record with the store version it was read at. */
export interface LoadedUser {
  readonly rec: UserRecord;
  readonly version: number;
}

export const enc = (v: unknown): Buffer => Buffer.from(JSON.stringify(v), 'utf8');
export const dec = <T>(b: Uint8Array): T => JSON.parse(Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('utf8')) as T;

export function encodeObject(o: StoredObject): Buffer {
  return enc({
    v: 1, handle: o.handle, owner: o.owner, shared: o.shared, lease: o.lease,
    ...(o.creator !== undefined ? { creator: o.creator } : {}),
    attrs: [...o.attrs].map(([t, v]) => [t, Buffer.from(v).toString('hex')]),
    material: o.material ? { kind: o.material.kind, hex: o.material.bytes.toString('hex') } : undefined,
  });
}

const HEX = /^(?:[0-9a-f]{2})*$/;
const MATERIAL_KINDS: ReadonlySet<string> = new Set(['secret', 'pkcs8', 'spki']);

/** A stored record that does not have the shape its format says; names the field, never a value. */
function malformed(field: string): HsmError {
  return new HsmError('ERR_STORE', `object record: ${field} is malformed`);
}

/**
 * Decode what encodeObject wrote. Anything else — not JSON, another format
 * version, a field of the wrong type — is an ERR_STORE that says which part is
 * wrong (never the content: the record holds key material).
 */
export function decodeObject(b: Uint8Array): StoredObject {
  let j: unknown;
  try {
    j = JSON.parse(Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('utf8'));
  } catch {
    throw new HsmError('ERR_STORE', 'object record is not JSON');
  }
  if (j === null || typeof j !== 'object' || Array.isArray(j)) throw new HsmError('ERR_STORE', 'object record is not a JSON object');
  const o = j as Record<string, unknown>;
  if (o.v !== 1) throw new HsmError('ERR_STORE', `object record version ${typeof o.v === 'number' ? o.v : JSON.stringify(o.v ?? null)} is not supported`);
  if (!Number.isSafeInteger(o.handle) || (o.handle as number) <= 0) throw malformed('handle');
  if (typeof o.owner !== 'string') throw malformed('owner');
  if (!Array.isArray(o.shared) || !o.shared.every((u) => typeof u === 'string')) throw malformed('shared');
  if (!Number.isSafeInteger(o.lease) || (o.lease as number) < 0) throw malformed('lease');
  if (o.creator !== undefined && (!Number.isSafeInteger(o.creator) || (o.creator as number) < 0 || o.lease === 0)) throw malformed('creator');
  if (!Array.isArray(o.attrs)) throw malformed('attrs');
  const attrs = new Map<number, Buffer>();
  for (const a of o.attrs as unknown[]) {
    if (!Array.isArray(a) || a.length !== 2 || !Number.isSafeInteger(a[0]) || a[0] < 0 || typeof a[1] !== 'string' || !HEX.test(a[1])) throw malformed('attrs');
    attrs.set(a[0] as number, Buffer.from(a[1] as string, 'hex'));
  }
  let material: StoredObject['material'];
  if (o.material !== undefined) {
    const m = o.material as { kind?: unknown; hex?: unknown } | null;
    if (m === null || typeof m !== 'object' || typeof m.kind !== 'string' || !MATERIAL_KINDS.has(m.kind)) throw malformed('material kind');
    if (typeof m.hex !== 'string' || !HEX.test(m.hex)) throw malformed('material');
    material = { kind: m.kind as 'secret' | 'pkcs8' | 'spki', bytes: Buffer.from(m.hex, 'hex') };
  }
  return {
    handle: o.handle as number, owner: o.owner, shared: o.shared as string[], lease: o.lease as number,
    ...(o.creator !== undefined ? { creator: o.creator as number } : {}),
    attrs,
    ...(material ? { material } : {}),
  };
}

export const boolAttr = (o: StoredObject, t: number): boolean => {
  const v = o.attrs.get(t);
  return v !== undefined && decodeBool(v);
};
export const ulongAttr = (o: StoredObject, t: number): number | undefined => {
  const v = o.attrs.get(t);
  return v === undefined ? undefined : decodeUlong(t, v);
};
export const classOf = (o: StoredObject): number => ulongAttr(o, P.CKA_CLASS)!;
export const keyTypeOfObj = (o: StoredObject): number | undefined => ulongAttr(o, P.CKA_KEY_TYPE);
export const isKeyClass = (c: number): boolean => c === P.CKO_SECRET_KEY || c === P.CKO_PRIVATE_KEY || c === P.CKO_PUBLIC_KEY;
