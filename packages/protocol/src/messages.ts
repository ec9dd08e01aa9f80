/**
 * @module The message schemas of docs/protocol.md §6, as data, and typed
 * helpers that turn requests and responses into frames and back.
 *
 * `OPS` is the one opcode table (jose-style: data first, code reads it): each
 * operation's opcode, whether it changes state, and its request and response
 * fields (name → id, type, optional). The daemon, the node, the SDK and the
 * tests all read it; a test checks it against the table in docs/protocol.md.
 *
 * Numbers are JavaScript numbers here (u64 on the wire, refused above
 * 2^53 - 1); bytes are Uint8Array; attribute lists are `{type, value}`.
 */
import { CKR_OF, HsmError, type HsmErrorCode } from './errors.js';
import {
  DEFAULT_LIMITS, KIND_NOTICE, KIND_REQUEST, KIND_RESPONSE, decodeBody, encodeFieldsFrame, fromHex, toHex,
  type Field, type FieldType, type Frame, type Limits, type WireAttribute,
} from './codec.js';

/* ─────────────────────────────── schema types ─────────────────────────────── */

export interface FieldSpec {
  readonly id: number;
  readonly type: FieldType;
  readonly optional?: boolean;
  /** Per-field bound on a list's length, tighter than the codec's maxListLength. */
  readonly max?: number;
  /** For record and records: the name of the record schema (docs/protocol.md §6.1). */
  readonly record?: string;
  readonly fields?: Schema;
}

export interface Schema {
  readonly [name: string]: FieldSpec;
}

type ValueOf<F extends FieldSpec> =
  F['type'] extends 'u64' ? number
  : F['type'] extends 'bytes' ? Uint8Array
  : F['type'] extends 'string' ? string
  : F['type'] extends 'bool' ? boolean
  : F['type'] extends 'attrs' ? readonly WireAttribute[]
  : F['type'] extends 'u64list' ? readonly number[]
  : F['type'] extends 'strings' ? readonly string[]
  : F extends { readonly fields: infer S extends Schema } ? (F['type'] extends 'record' ? ObjOf<S> : readonly ObjOf<S>[])
  : never;

type OptionalKeys<S extends Schema> = { [K in keyof S]: S[K] extends { readonly optional: true } ? K : never }[keyof S];
type RequiredKeys<S extends Schema> = Exclude<keyof S, OptionalKeys<S>>;
type Simplify<T> = { [K in keyof T]: T[K] } & {};

/** The JavaScript shape of a message with schema S (an empty schema takes only `{}`). */
export type ObjOf<S extends Schema> = [keyof S] extends [never]
  ? { readonly [key: string]: never }
  : Simplify<{ readonly [K in RequiredKeys<S>]: ValueOf<S[K]> } & { readonly [K in OptionalKeys<S>]?: ValueOf<S[K]> | undefined }>;

/* Field constructors, so the table below reads like the one in the document. */
const u64 = (id: number) => ({ id, type: 'u64' }) as const;
const bytes = (id: number) => ({ id, type: 'bytes' }) as const;
const str = (id: number) => ({ id, type: 'string' }) as const;
const bool = (id: number) => ({ id, type: 'bool' }) as const;
const attrs = (id: number) => ({ id, type: 'attrs' }) as const;
const u64s = (id: number, max?: number) => ({ id, type: 'u64list', ...(max === undefined ? {} : { max }) }) as const;
const strs = (id: number, max?: number) => ({ id, type: 'strings', ...(max === undefined ? {} : { max }) }) as const;
const rec = <const S extends Schema>(id: number, record: string, fields: S) => ({ id, type: 'record', record, fields }) as const;
const recs = <const S extends Schema>(id: number, record: string, fields: S) => ({ id, type: 'records', record, fields }) as const;
const opt = <const F extends FieldSpec>(f: F): F & { readonly optional: true } => ({ ...f, optional: true });

/** Field id of the idempotency key carried by every mutating request. */
export const REQUEST_ID_FIELD = 255;
const mutating = <const S extends Schema>(s: S) => ({ ...s, requestId: opt(str(REQUEST_ID_FIELD)) });

/**
 * Field id of the consistency token (docs/consistency.md), on every request
 * and every successful response: a request's `minRevision` is the highest
 * store revision its sender has seen, a response's `revision` the one the
 * node had applied when it answered.
 */
export const REVISION_FIELD = 254;
const CONSISTENCY_REQUEST = { minRevision: opt(u64(REVISION_FIELD)) } as const;
const CONSISTENCY_RESPONSE = { revision: opt(u64(REVISION_FIELD)) } as const;
type ConsistencyRequest = typeof CONSISTENCY_REQUEST;
type ConsistencyResponse = typeof CONSISTENCY_RESPONSE;

/* Response fields 1-3 (docs/protocol.md §5.1). */
export const RV_FIELD = 1;
export const CODE_FIELD = 2;
export const MESSAGE_FIELD = 3;

/* ─────────────────────────────── records ─────────────────────────────── */

/** CK_MECHANISM with its parameters flattened (MechanismParams in hsm-core, plus `length`). */
export const MECHANISM = {
  mechanism: u64(1),
  iv: opt(bytes(2)),
  counterBits: opt(u64(3)),
  aad: opt(bytes(4)),
  tagBits: opt(u64(5)),
  hashAlg: opt(u64(6)),
  mgf: opt(u64(7)),
  saltLen: opt(u64(8)),
  sourceData: opt(bytes(9)),
  kdf: opt(u64(10)),
  sharedData: opt(bytes(11)),
  publicData: opt(bytes(12)),
  aesKeyBits: opt(u64(13)),
  length: opt(u64(14)),
} as const;

export const USER_INFO = {
  id: u64(1),
  user: str(2),
  role: str(3),
  locked: bool(4),
  failures: u64(5),
} as const;

/** One partition policy and its value (getPolicy, setPolicy). */
export const POLICY = {
  name: str(1),
  value: u64(2),
} as const;

export const NODE_INFO = {
  id: u64(1),
  hostname: str(2),
  port: u64(3),
} as const;

export const NODE_STATUS = {
  id: u64(1),
  hostname: str(2),
  port: u64(3),
  state: str(4),
  inFlight: opt(u64(5)),
} as const;

export const AUDIT_RECORD = {
  seq: u64(1),
  time: u64(2),
  user: str(3),
  role: str(4),
  action: str(5),
  handles: opt(u64s(6)),
  mechanism: opt(u64(7)),
  detail: opt(str(8)),
  result: str(9),
  prev: str(10),
  hash: str(11),
  node: opt(u64(12)),
} as const;

const mech = (id: number) => rec(id, 'Mechanism', MECHANISM);
const session = opt(u64(1));
/**
 * Field id of `creator`: the client's tag for its own session (the PKCS#11
 * module's session handle) on the requests that create objects. A session
 * object (CKA_TOKEN false) made with a tag is destroyed by `closeSession` with
 * that tag, while the cluster session and the rest of its objects live on.
 */
export const CREATOR_FIELD = 16;
const creator = opt(u64(CREATOR_FIELD));
/**
 * Field id of `readOnly`: true on a request that changes objects from a
 * session the application opened without CKF_RW_SESSION. The client only
 * tells; the partition profile's READ_ONLY_SESSIONS row decides whether such a
 * session may create, copy, change or destroy token objects (profiles.ts).
 */
export const READ_ONLY_FIELD = 17;
const readOnly = opt(bool(READ_ONLY_FIELD));

/* ─────────────────────────────── the opcode table ─────────────────────────────── */

export interface OpSpec {
  readonly opcode: number;
  readonly mutating: boolean;
  readonly request: Schema;
  readonly response: Schema;
}

export const OPS = {
  /* 0x00xx session and meta */
  hello: { opcode: 0x0001, mutating: false, request: { versions: u64s(1), client: opt(str(2)) }, response: { version: u64(4), server: str(5), maxBody: u64(6), node: opt(u64(7)), maxData: opt(u64(8)), maxUserName: opt(u64(9)), minPassword: opt(u64(10)), maxPassword: opt(u64(11)), profile: opt(str(12)), wrongPinRv: opt(u64(13)), setPin: opt(bool(14)) } },
  login: { opcode: 0x0010, mutating: false, request: { user: str(1), password: str(2), role: opt(str(3)) }, response: { user: str(4), role: str(5) } },
  logout: { opcode: 0x0011, mutating: false, request: { sessions: opt(u64s(1, 4096)) }, response: {} },
  loginStatus: { opcode: 0x0012, mutating: false, request: {}, response: { loggedIn: bool(4), user: opt(str(5)), role: opt(str(6)) } },
  openSession: { opcode: 0x0020, mutating: false, request: { flags: opt(u64(1)) }, response: { session: u64(4) } },
  closeSession: { opcode: 0x0021, mutating: false, request: { session: u64(1), creator }, response: {} },

  /* 0x01xx objects */
  createObject: { opcode: 0x0100, mutating: true, request: mutating({ session, template: attrs(2), creator, readOnly }), response: { handle: u64(4) } },
  copyObject: { opcode: 0x0101, mutating: true, request: mutating({ session, handle: u64(2), template: attrs(3), creator, readOnly }), response: { handle: u64(4) } },
  destroyObject: { opcode: 0x0102, mutating: true, request: mutating({ session, handle: u64(2), readOnly }), response: {} },
  getAttributeValue: { opcode: 0x0103, mutating: false, request: { session, handle: u64(2), types: u64s(3, 64) }, response: { attributes: attrs(4), rvs: u64s(5) } },
  setAttributeValue: { opcode: 0x0104, mutating: true, request: mutating({ session, handle: u64(2), template: attrs(3), readOnly }), response: {} },
  findObjects: { opcode: 0x0105, mutating: false, request: { session, template: attrs(2) }, response: { handles: u64s(4) } },
  shareKey: { opcode: 0x0106, mutating: true, request: mutating({ session, handle: u64(2), users: strs(3, 64), share: bool(4) }), response: { shared: strs(4) } },
  keyInfo: { opcode: 0x0107, mutating: false, request: { session, handle: u64(2) }, response: { owner: str(4), shared: strs(5), token: bool(6) } },

  /* 0x02xx cryptography */
  generateKey: { opcode: 0x0200, mutating: true, request: mutating({ session, mechanism: mech(2), template: attrs(3), creator, readOnly }), response: { handle: u64(4) } },
  generateKeyPair: {
    opcode: 0x0201, mutating: true,
    request: mutating({ session, mechanism: mech(2), publicTemplate: attrs(3), privateTemplate: attrs(4), creator, readOnly }),
    response: { publicHandle: u64(4), privateHandle: u64(5) },
  },
  sign: { opcode: 0x0202, mutating: false, request: { session, mechanism: mech(2), handle: u64(3), data: bytes(4) }, response: { signature: bytes(4) } },
  verify: { opcode: 0x0203, mutating: false, request: { session, mechanism: mech(2), handle: u64(3), data: bytes(4), signature: bytes(5) }, response: {} },
  encrypt: { opcode: 0x0204, mutating: false, request: { session, mechanism: mech(2), handle: u64(3), data: bytes(4) }, response: { data: bytes(4) } },
  decrypt: { opcode: 0x0205, mutating: false, request: { session, mechanism: mech(2), handle: u64(3), data: bytes(4) }, response: { data: bytes(4) } },
  digest: { opcode: 0x0206, mutating: false, request: { session, mechanism: mech(2), data: bytes(3) }, response: { digest: bytes(4) } },
  wrapKey: { opcode: 0x0207, mutating: false, request: { session, mechanism: mech(2), wrappingHandle: u64(3), keyHandle: u64(4) }, response: { wrapped: bytes(4) } },
  unwrapKey: {
    opcode: 0x0208, mutating: true,
    request: mutating({ session, mechanism: mech(2), unwrappingHandle: u64(3), wrapped: bytes(4), template: attrs(5), creator, readOnly }),
    response: { handle: u64(4) },
  },
  deriveKey: { opcode: 0x0209, mutating: true, request: mutating({ session, mechanism: mech(2), baseHandle: u64(3), template: attrs(4), creator, readOnly }), response: { handle: u64(4) } },
  generateRandom: { opcode: 0x020a, mutating: false, request: { session, length: u64(2) }, response: { data: bytes(4) } },
  mechanismList: { opcode: 0x020b, mutating: false, request: {}, response: { mechanisms: u64s(4) } },
  mechanismInfo: { opcode: 0x020c, mutating: false, request: { mechanism: u64(1) }, response: { minKeySize: u64(4), maxKeySize: u64(5), flags: u64(6) } },

  /* 0x03xx users */
  createUser: { opcode: 0x0300, mutating: true, request: mutating({ role: str(1), user: str(2), password: str(3) }), response: { user: rec(4, 'UserInfo', USER_INFO) } },
  deleteUser: { opcode: 0x0301, mutating: true, request: mutating({ user: str(1) }), response: {} },
  changePassword: { opcode: 0x0302, mutating: true, request: mutating({ role: opt(str(1)), user: str(2), password: str(3) }), response: { user: rec(4, 'UserInfo', USER_INFO) } },
  listUsers: { opcode: 0x0303, mutating: false, request: {}, response: { users: recs(4, 'UserInfo', USER_INFO) } },
  unlockUser: { opcode: 0x0304, mutating: true, request: mutating({ user: str(1) }), response: { user: rec(4, 'UserInfo', USER_INFO) } },
  /* A crypto officer's password reset with the partition owner key (docs/cli.md, unlockCO): the challenge, then the signed reset. */
  getChallenge: { opcode: 0x0305, mutating: false, request: { user: str(1) }, response: { user: str(4), serial: str(5), time: u64(6), challenge: str(7) } },
  unlockCO: { opcode: 0x0306, mutating: true, request: mutating({ user: str(1), password: str(2), time: u64(3), signature: bytes(4) }), response: { user: rec(4, 'UserInfo', USER_INFO) } },
  /* C_SetPIN: the signed-in user changes its own password, proving the old one; only in a profile with SET_PIN (profiles.ts). */
  setPin: { opcode: 0x0307, mutating: true, request: mutating({ oldPin: str(1), newPin: str(2), readOnly }), response: { user: rec(4, 'UserInfo', USER_INFO) } },

  /* 0x04xx cluster and administration */
  getClusterInfo: { opcode: 0x0400, mutating: false, request: {}, response: { nodes: recs(4, 'NodeInfo', NODE_INFO) } },
  status: {
    opcode: 0x0401, mutating: false, request: {},
    response: {
      component: str(4), version: str(5), uptime: u64(6), partitionState: opt(str(7)), nodes: opt(recs(8, 'NodeStatus', NODE_STATUS)),
      /* The daemon's sign-in state and load (absent from a node's answer). */
      loggedIn: opt(bool(9)), user: opt(str(10)), role: opt(str(11)), sessionMode: opt(str(12)), inFlight: opt(u64(13)), applications: opt(u64(14)),
    },
  },
  auditRecords: { opcode: 0x0402, mutating: false, request: { fromSeq: opt(u64(1)), limit: opt(u64(2)), chain: opt(str(3)) }, response: { records: recs(4, 'AuditRecord', AUDIT_RECORD) } },
  auditVerify: { opcode: 0x0403, mutating: false, request: { chain: opt(str(1)) }, response: { ok: bool(4), records: u64(5), brokenAt: opt(u64(6)), reason: opt(str(7)), node: opt(u64(8)) } },
  getCertReq: { opcode: 0x0404, mutating: false, request: {}, response: { csr: bytes(4) } },
  storeCert: { opcode: 0x0405, mutating: true, request: mutating({ slot: u64(1), cert: bytes(2) }), response: {} },
  getCert: { opcode: 0x0406, mutating: false, request: { slot: u64(1) }, response: { cert: bytes(4) } },
  /* The whole partition as one authenticated, encrypted file (docs/operations.md); the backup fits one frame. */
  backupPartition: { opcode: 0x0407, mutating: false, request: {}, response: { backup: bytes(4), entries: u64(5), auditSeq: u64(6) } },
  restorePartition: { opcode: 0x0408, mutating: true, request: mutating({ backup: bytes(1) }), response: { entries: u64(4), auditSeq: u64(5) } },
  /* A new node's join (docs/deployment.md §5): a CO approves its request by fingerprint; the joining node asks a running node for the wrapped masking key. */
  approveNode: { opcode: 0x0409, mutating: true, request: mutating({ node: u64(1), fingerprint: str(2) }), response: { fingerprint: str(4), host: str(5), port: u64(6) } },
  joinKey: { opcode: 0x040a, mutating: false, request: { node: u64(1) }, response: { wrapped: bytes(4) } },
  /* Partition policies a crypto officer sets (hsm-core authz/partition_policy.ts), e.g. DEFAULT_WRAP_WITH_TRUSTED. */
  getPolicy: { opcode: 0x040b, mutating: false, request: {}, response: { policies: recs(4, 'Policy', POLICY), profile: opt(str(5)) } },
  setPolicy: { opcode: 0x040c, mutating: true, request: mutating({ name: str(1), value: u64(2) }), response: { policies: recs(4, 'Policy', POLICY) } },

  /*
   * 0x05xx multi-part operations (docs/protocol.md "Multi-part operations"): a context on the node
   * that began it, fed in bounded parts. `kind` is digest, sign, verify, encrypt or decrypt.
   */
  streamInit: { opcode: 0x0500, mutating: false, request: { session, kind: str(2), mechanism: mech(3), handle: opt(u64(4)) }, response: { stream: u64(4) } },
  streamUpdate: { opcode: 0x0501, mutating: false, request: { stream: u64(1), data: bytes(2) }, response: { data: bytes(4) } },
  streamFinal: { opcode: 0x0502, mutating: false, request: { stream: u64(1), data: opt(bytes(2)), signature: opt(bytes(3)) }, response: { data: bytes(4) } },
  streamCancel: { opcode: 0x0503, mutating: false, request: { stream: u64(1) }, response: {} },
} as const satisfies Readonly<Record<string, OpSpec>>;

/** A multi-part operation unused this long ends, on its node and in the daemon (docs/protocol.md §6.4). */
export const STREAM_IDLE_MS = 300_000;

/** Notices: kind 3, request id 0, server to client. Their fields start at id 1. */
export const NOTICES = {
  loginChanged: { opcode: 0x0040, fields: { loggedIn: bool(1), user: opt(str(2)), role: opt(str(3)) } },
  goodbye: { opcode: 0x0041, fields: { reason: str(1) } },
} as const satisfies Readonly<Record<string, { readonly opcode: number; readonly fields: Schema }>>;

export type OpName = keyof typeof OPS;
export type NoticeName = keyof typeof NOTICES;
export type RequestOf<K extends OpName> = ObjOf<(typeof OPS)[K]['request']> & ObjOf<ConsistencyRequest>;
export type ResponseOf<K extends OpName> = ObjOf<(typeof OPS)[K]['response']> & ObjOf<ConsistencyResponse>;
export type NoticeOf<K extends NoticeName> = ObjOf<(typeof NOTICES)[K]['fields']>;
export type DecodedRequest = { [K in OpName]: { readonly op: K; readonly obj: RequestOf<K> } }[OpName];
export type DecodedNotice = { [K in NoticeName]: { readonly notice: K; readonly obj: NoticeOf<K> } }[NoticeName];

/* ─────────────────────────────── compiled indexes ─────────────────────────────── */

interface Compiled {
  /** [name, spec] in ascending id order. */
  readonly entries: readonly (readonly [string, FieldSpec])[];
  readonly byId: ReadonlyMap<number, readonly [string, FieldSpec]>;
}

const compiled = new WeakMap<Schema, Compiled>();

function compile(schema: Schema, minId: number, where: string): Compiled {
  let c = compiled.get(schema);
  if (c) return c;
  const entries = Object.entries(schema).sort((a, b) => a[1].id - b[1].id);
  const byId = new Map<number, readonly [string, FieldSpec]>();
  for (const e of entries) {
    const [name, spec] = e;
    if (!Number.isInteger(spec.id) || spec.id < minId || spec.id > 0xffff) throw new Error(`${where}: field ${name} has id ${spec.id}, below ${minId} or above 65535`);
    if (byId.has(spec.id)) throw new Error(`${where}: field id ${spec.id} is used twice`);
    if ((spec.type === 'record' || spec.type === 'records') !== (spec.fields !== undefined)) throw new Error(`${where}: field ${name} and its record schema disagree`);
    if (spec.fields) compile(spec.fields, 1, `${where}.${name}`);
    byId.set(spec.id, e);
  }
  c = { entries, byId };
  compiled.set(schema, c);
  return c;
}

const OP_BY_OPCODE = new Map<number, OpName>();
/** Each operation's request and response schema with the consistency token added (what travels). */
const WIRE_REQUEST = new Map<OpName, Schema>();
const WIRE_RESPONSE = new Map<OpName, Schema>();
for (const [name, op] of Object.entries(OPS) as [OpName, OpSpec][]) {
  if (OP_BY_OPCODE.has(op.opcode)) throw new Error(`opcode 0x${op.opcode.toString(16)} is used twice`);
  OP_BY_OPCODE.set(op.opcode, name);
  WIRE_REQUEST.set(name, { ...op.request, ...CONSISTENCY_REQUEST });
  WIRE_RESPONSE.set(name, { ...op.response, ...CONSISTENCY_RESPONSE });
  compile(WIRE_REQUEST.get(name)!, 1, `${name} request`);
  compile(WIRE_RESPONSE.get(name)!, 4, `${name} response`);
  if (op.mutating !== ('requestId' in op.request)) throw new Error(`${name}: mutating requests, and only they, carry requestId`);
}
const NOTICE_BY_OPCODE = new Map<number, NoticeName>();
for (const [name, n] of Object.entries(NOTICES) as [NoticeName, { opcode: number; fields: Schema }][]) {
  if (OP_BY_OPCODE.has(n.opcode) || NOTICE_BY_OPCODE.has(n.opcode)) throw new Error(`opcode 0x${n.opcode.toString(16)} is used twice`);
  NOTICE_BY_OPCODE.set(n.opcode, name);
  compile(n.fields, 1, `${name} notice`);
}

/** The operation an opcode names, if any. */
export function opByOpcode(opcode: number): OpName | undefined {
  return OP_BY_OPCODE.get(opcode);
}

export function noticeByOpcode(opcode: number): NoticeName | undefined {
  return NOTICE_BY_OPCODE.get(opcode);
}

/* ─────────────────────────────── object ↔ fields ─────────────────────────────── */

const bad = (message: string) => new HsmError('ERR_ARGUMENTS_BAD', message);
const own = (o: object, k: string) => Object.prototype.hasOwnProperty.call(o, k);
const label = (where: string, name: string, spec: FieldSpec) => `${where}: field ${name} (${spec.id})`;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

function toNumberField(v: unknown, what: string): bigint {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw bad(`${what} must be an integer from 0 to 2^53-1`);
  return BigInt(v);
}

function checkMax(n: number, spec: FieldSpec, what: string): void {
  if (spec.max !== undefined && n > spec.max) throw new HsmError('ERR_LIMIT', `${what} has ${n} elements, more than ${spec.max}`);
}

function objToFields(schema: Schema, obj: unknown, where: string): Field[] {
  const c = compile(schema, 1, where);
  if (!isPlainObject(obj)) throw bad(`${where} must be a plain object`);
  for (const k of Object.keys(obj)) {
    if (!own(schema, k) && obj[k] !== undefined) throw bad(`${where}: unknown field ${k}`);
  }
  const out: Field[] = [];
  for (const [name, spec] of c.entries) {
    const v = own(obj, name) ? obj[name] : undefined;
    const what = label(where, name, spec);
    if (v === undefined) {
      if (!spec.optional) throw bad(`${where}: missing required field ${name} (${spec.id})`);
      continue;
    }
    const id = spec.id;
    switch (spec.type) {
      case 'u64':
        out.push({ id, type: 'u64', value: toNumberField(v, what) });
        break;
      case 'bytes':
        if (!(v instanceof Uint8Array)) throw bad(`${what} must be a Uint8Array`);
        out.push({ id, type: 'bytes', value: v });
        break;
      case 'string':
        if (typeof v !== 'string') throw bad(`${what} must be a string`);
        out.push({ id, type: 'string', value: v });
        break;
      case 'bool':
        if (typeof v !== 'boolean') throw bad(`${what} must be a boolean`);
        out.push({ id, type: 'bool', value: v });
        break;
      case 'attrs':
        if (!Array.isArray(v)) throw bad(`${what} must be an array of attributes`);
        checkMax(v.length, spec, what);
        out.push({
          id, type: 'attrs',
          value: v.map((a: unknown) => {
            if (typeof a !== 'object' || a === null) throw bad(`${what}: an attribute must be {type, value}`);
            const { type, value } = a as { type?: unknown; value?: unknown };
            if (typeof type !== 'number' || !Number.isInteger(type) || type < 0 || type > 0xffffffff) throw bad(`${what}: attribute type must be a u32`);
            if (!(value instanceof Uint8Array)) throw bad(`${what}: attribute value must be a Uint8Array`);
            return { type, value };
          }),
        });
        break;
      case 'u64list':
        if (!Array.isArray(v)) throw bad(`${what} must be an array of numbers`);
        checkMax(v.length, spec, what);
        out.push({ id, type: 'u64list', value: v.map((x: unknown) => toNumberField(x, `${what} element`)) });
        break;
      case 'strings':
        if (!Array.isArray(v)) throw bad(`${what} must be an array of strings`);
        checkMax(v.length, spec, what);
        for (const s of v) if (typeof s !== 'string') throw bad(`${what} must be an array of strings`);
        out.push({ id, type: 'strings', value: v as string[] });
        break;
      case 'record':
        out.push({ id, type: 'record', value: objToFields(spec.fields!, v, `${where}.${name}`) });
        break;
      case 'records':
        if (!Array.isArray(v)) throw bad(`${what} must be an array of records`);
        checkMax(v.length, spec, what);
        out.push({ id, type: 'records', value: v.map((r: unknown, i: number) => objToFields(spec.fields!, r, `${where}.${name}[${i}]`)) });
        break;
    }
  }
  return out;
}

function toNumber(v: bigint, what: string): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw bad(`${what} is ${v}, above 2^53-1`);
  return Number(v);
}

function fieldsToObj(schema: Schema, fields: readonly Field[], where: string): Record<string, unknown> {
  const c = compile(schema, 1, where);
  const obj: Record<string, unknown> = {};
  for (const f of fields) {
    const e = c.byId.get(f.id);
    if (!e) throw bad(`${where}: unknown field ${f.id}`);
    const [name, spec] = e;
    const what = label(where, name, spec);
    if (f.type !== spec.type) throw bad(`${what} must be of type ${spec.type}, got ${f.type}`);
    switch (f.type) {
      case 'u64':
        obj[name] = toNumber(f.value, what);
        break;
      case 'u64list':
        checkMax(f.value.length, spec, what);
        obj[name] = f.value.map((x) => toNumber(x, `${what} element`));
        break;
      case 'attrs':
      case 'strings':
        checkMax(f.value.length, spec, what);
        obj[name] = f.value;
        break;
      case 'record':
        obj[name] = fieldsToObj(spec.fields!, f.value, `${where}.${name}`);
        break;
      case 'records':
        checkMax(f.value.length, spec, what);
        obj[name] = f.value.map((r, i) => fieldsToObj(spec.fields!, r, `${where}.${name}[${i}]`));
        break;
      default:
        obj[name] = f.value;
    }
  }
  for (const [name, spec] of c.entries) {
    if (!spec.optional && !own(obj, name)) throw bad(`${where}: missing required field ${name} (${spec.id})`);
  }
  return obj;
}

/* ─────────────────────────────── requests ─────────────────────────────── */

function opSpec(op: string): OpSpec {
  if (typeof op !== 'string' || !own(OPS, op)) throw bad(`unknown operation ${String(op)}`);
  return (OPS as Record<string, OpSpec>)[op]!;
}

/** The frame bytes of a request. */
export function encodeRequest<K extends OpName>(op: K, requestId: number, obj: RequestOf<K>, limits: Limits = DEFAULT_LIMITS): Uint8Array {
  const spec = opSpec(op);
  return encodeFieldsFrame(KIND_REQUEST, requestId, spec.opcode, objToFields(WIRE_REQUEST.get(op)!, obj, `${op} request`), limits);
}

/**
 * A request frame's operation and fields. An opcode this version does not
 * know is ERR_FUNCTION_NOT_SUPPORTED (answer it with `encodeErrorResponse`).
 */
export function decodeRequest(frame: Frame, limits: Limits = DEFAULT_LIMITS): DecodedRequest {
  if (frame.kind !== KIND_REQUEST) throw new HsmError('ERR_PROTOCOL', `expected a request frame, got kind ${frame.kind}`);
  const op = OP_BY_OPCODE.get(frame.opcode);
  if (op === undefined) throw new HsmError('ERR_FUNCTION_NOT_SUPPORTED', `opcode 0x${frame.opcode.toString(16).padStart(4, '0')} is not supported`);
  const fields = decodeBody(frame.body, limits);
  const obj = fieldsToObj(WIRE_REQUEST.get(op)!, fields, `${op} request`);
  return { op, obj } as DecodedRequest;
}

/* ─────────────────────────────── responses ─────────────────────────────── */

/** Cut a string to at most `max` bytes of UTF-8, at a code point boundary. */
function clipUtf8(s: string, max: number): string {
  if (s.length <= max / 3) return s;
  const enc = new TextEncoder();
  if (enc.encode(s).length <= max) return s;
  let out = '';
  let n = 0;
  for (const ch of s) {
    const k = enc.encode(ch).length;
    if (n + k > max - 3) return out + '…';
    out += ch;
    n += k;
  }
  return out;
}

function wellFormed(s: string): string {
  return s.replace(/\p{Cs}/gu, '\uFFFD');
}

/**
 * The frame bytes of an error response to any opcode (known or not). A value
 * that is not an HsmError becomes ERR_GENERAL with a fixed message, so that no
 * internal detail leaks to the peer.
 */
export function encodeErrorResponse(opcode: number, requestId: number, err: unknown, limits: Limits = DEFAULT_LIMITS): Uint8Array {
  const e = err instanceof HsmError ? err : new HsmError('ERR_GENERAL', 'internal error');
  const fields: Field[] = [
    { id: RV_FIELD, type: 'u64', value: BigInt(e.ckrv) },
    { id: CODE_FIELD, type: 'string', value: e.code },
    { id: MESSAGE_FIELD, type: 'string', value: clipUtf8(wellFormed(e.message), limits.maxStringBytes) },
  ];
  return encodeFieldsFrame(KIND_RESPONSE, requestId, opcode, fields, limits);
}

/** The frame bytes of a response: the result on success, or the error. */
export function encodeResponse<K extends OpName>(op: K, requestId: number, result: ResponseOf<K> | HsmError, limits: Limits = DEFAULT_LIMITS): Uint8Array {
  const spec = opSpec(op);
  if (result instanceof HsmError) return encodeErrorResponse(spec.opcode, requestId, result, limits);
  const fields: Field[] = [{ id: RV_FIELD, type: 'u64', value: 0n }, ...objToFields(WIRE_RESPONSE.get(op)!, result, `${op} response`)];
  return encodeFieldsFrame(KIND_RESPONSE, requestId, spec.opcode, fields, limits);
}

/** A response as it travels: success with its result, or the error's rv, code and message. */
export type ResponseMessage =
  | { readonly ok: true; readonly op: OpName; readonly obj: Record<string, unknown> }
  | { readonly ok: false; readonly opcode: number; readonly rv: number; readonly code: string; readonly message: string };

/** Decode a response frame without interpreting an error (what a C client sees). */
export function decodeResponseMessage(frame: Frame, limits: Limits = DEFAULT_LIMITS): ResponseMessage {
  if (frame.kind !== KIND_RESPONSE) throw new HsmError('ERR_PROTOCOL', `expected a response frame, got kind ${frame.kind}`);
  const fields = decodeBody(frame.body, limits);
  const first = fields[0];
  if (!first || first.id !== RV_FIELD || first.type !== 'u64') throw bad('response: field rv (1) must come first, as a u64');
  if (first.value !== 0n) {
    const code = fields[1];
    const message = fields[2];
    if (!code || code.id !== CODE_FIELD || code.type !== 'string') throw bad('error response: field code (2) must be a string');
    if (!message || message.id !== MESSAGE_FIELD || message.type !== 'string') throw bad('error response: field message (3) must be a string');
    if (fields.length > 3) throw bad(`error response: unknown field ${fields[3]!.id}`);
    return { ok: false, opcode: frame.opcode, rv: toNumber(first.value, 'response: field rv (1)'), code: code.value, message: message.value };
  }
  const op = OP_BY_OPCODE.get(frame.opcode);
  if (op === undefined) throw new HsmError('ERR_PROTOCOL', `success response to unknown opcode 0x${frame.opcode.toString(16).padStart(4, '0')}`);
  return { ok: true, op, obj: fieldsToObj(WIRE_RESPONSE.get(op)!, fields.slice(1), `${op} response`) };
}

/** Rebuild the peer's HsmError: same code and message (an unknown code becomes ERR_GENERAL). */
export function errorFromResponse(code: string, message: string): HsmError {
  if (own(CKR_OF, code)) return new HsmError(code as HsmErrorCode, message);
  return new HsmError('ERR_GENERAL', `${code}: ${message}`);
}

/**
 * The result of a response frame, or throws the peer's HsmError. With `op`,
 * the frame must answer that operation.
 */
export function decodeResponse<K extends OpName>(frame: Frame, op?: K, limits: Limits = DEFAULT_LIMITS): ResponseOf<K> {
  if (op !== undefined && OP_BY_OPCODE.get(frame.opcode) !== op) {
    throw new HsmError('ERR_PROTOCOL', `response opcode 0x${frame.opcode.toString(16).padStart(4, '0')} does not answer ${op}`);
  }
  const m = decodeResponseMessage(frame, limits);
  if (!m.ok) throw errorFromResponse(m.code, m.message);
  return m.obj as ResponseOf<K>;
}

/* ─────────────────────────────── notices ─────────────────────────────── */

export function encodeNotice<K extends NoticeName>(notice: K, obj: NoticeOf<K>, limits: Limits = DEFAULT_LIMITS): Uint8Array {
  if (typeof notice !== 'string' || !own(NOTICES, notice)) throw bad(`unknown notice ${String(notice)}`);
  const spec = NOTICES[notice];
  return encodeFieldsFrame(KIND_NOTICE, 0, spec.opcode, objToFields(spec.fields, obj, `${notice} notice`), limits);
}

/** A notice's name and fields, or undefined for a notice this version does not know (ignore it). */
export function decodeNotice(frame: Frame, limits: Limits = DEFAULT_LIMITS): DecodedNotice | undefined {
  if (frame.kind !== KIND_NOTICE) throw new HsmError('ERR_PROTOCOL', `expected a notice frame, got kind ${frame.kind}`);
  const notice = NOTICE_BY_OPCODE.get(frame.opcode);
  if (notice === undefined) return undefined;
  const obj = fieldsToObj(NOTICES[notice].fields, decodeBody(frame.body, limits), `${notice} notice`);
  return { notice, obj } as DecodedNotice;
}

/* ─────────────────────────────── JSON form (test vectors) ─────────────────────────────── */

/**
 * The JSON form of docs/protocol.md §8: bytes as lower-case hex strings,
 * attributes as {type, value: hex}; everything else as itself.
 */
export function toJson(schema: Schema, obj: Record<string, unknown>): Record<string, unknown> {
  const c = compile(schema, 1, 'json');
  const out: Record<string, unknown> = {};
  for (const [name, spec] of c.entries) {
    const v = obj[name];
    if (v === undefined) continue;
    switch (spec.type) {
      case 'bytes':
        out[name] = toHex(v as Uint8Array);
        break;
      case 'attrs':
        out[name] = (v as WireAttribute[]).map((a) => ({ type: a.type, value: toHex(a.value) }));
        break;
      case 'u64list':
      case 'strings':
        out[name] = [...(v as unknown[])];
        break;
      case 'record':
        out[name] = toJson(spec.fields!, v as Record<string, unknown>);
        break;
      case 'records':
        out[name] = (v as Record<string, unknown>[]).map((r) => toJson(spec.fields!, r));
        break;
      default:
        out[name] = v;
    }
  }
  return out;
}

/** The inverse of `toJson`. Unknown keys are kept so that the encoder refuses them by name. */
export function fromJson(schema: Schema, json: unknown): Record<string, unknown> {
  if (!isPlainObject(json)) throw bad('JSON message must be an object');
  const out: Record<string, unknown> = {};
  for (const [name, v] of Object.entries(json)) {
    const spec = own(schema, name) ? schema[name]! : undefined;
    if (!spec || v === undefined) {
      out[name] = v;
      continue;
    }
    switch (spec.type) {
      case 'bytes':
        out[name] = fromHex(v as string);
        break;
      case 'attrs':
        if (!Array.isArray(v)) throw bad(`JSON field ${name} must be an array`);
        out[name] = v.map((a: { type: number; value: string }) => ({ type: a.type, value: fromHex(a.value) }));
        break;
      case 'record':
        out[name] = fromJson(spec.fields!, v);
        break;
      case 'records':
        if (!Array.isArray(v)) throw bad(`JSON field ${name} must be an array`);
        out[name] = v.map((r: unknown) => fromJson(spec.fields!, r));
        break;
      default:
        out[name] = v;
    }
  }
  return out;
}
