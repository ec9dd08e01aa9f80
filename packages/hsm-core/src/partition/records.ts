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
}

/** What is stored at obj/<handle>, masked by the barrier. */
export interface StoredObject {
  handle: number;
  owner: string;
  shared: string[];
  lease: number;
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
    attrs: [...o.attrs].map(([t, v]) => [t, Buffer.from(v).toString('hex')]),
    material: o.material ? { kind: o.material.kind, hex: o.material.bytes.toString('hex') } : undefined,
  });
}

export function decodeObject(b: Uint8Array): StoredObject {
  const j = dec<{ v: number; handle: number; owner: string; shared: string[]; lease: number; attrs: [number, string][]; material?: { kind: 'secret' | 'pkcs8' | 'spki'; hex: string } }>(b);
  if (j.v !== 1) throw new HsmError('ERR_STORE', `object record version ${j.v} is not supported`);
  return {
    handle: j.handle, owner: j.owner, shared: j.shared, lease: j.lease,
    attrs: new Map(j.attrs.map(([t, h]) => [t, Buffer.from(h, 'hex')])),
    ...(j.material ? { material: { kind: j.material.kind, bytes: Buffer.from(j.material.hex, 'hex') } } : {}),
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
