/**
 * Generates test-vectors/protocol/frames.json and malformed.json.
 *
 * The valid vectors are written here in their JSON form and encoded with the
 * TypeScript codec; the malformed ones are assembled byte by byte. The files
 * were generated once and reviewed by hand against docs/protocol.md; they pin
 * the format, so regenerate only for a deliberate format change:
 *
 *   node dist/tools/protocol-vectors.js            # print, write nothing
 *   node dist/tools/protocol-vectors.js --write    # overwrite the files
 */
import { writeFileSync } from 'node:fs';
import * as P from '../packages/protocol/src/pkcs11.js';
import { HsmError, LOGIN_FAILED_MESSAGE, type HsmErrorCode } from '../packages/protocol/src/errors.js';
import { KIND_NOTICE, KIND_REQUEST, KIND_RESPONSE, toHex, type FrameKind } from '../packages/protocol/src/codec.js';
import {
  NOTICES, OPS, encodeErrorResponse, encodeNotice, encodeRequest, encodeResponse, fromJson, type NoticeName, type OpName,
} from '../packages/protocol/src/messages.js';
import { vectorPath } from '../test-vectors/load.js';

/* CK_ULONG and CK_BBOOL attribute values, as CK_ATTRIBUTE carries them (8 bytes LE; 1 byte). */
const ulong = (n: number): string => {
  let s = '';
  for (let i = 0; i < 8; i++) s += (Math.floor(n / 2 ** (8 * i)) & 0xff).toString(16).padStart(2, '0');
  return s;
};
const bbool = (b: boolean): string => (b ? '01' : '00');
const utf8 = (s: string): string => toHex(new TextEncoder().encode(s));
const a = (type: number, value: string) => ({ type, value });

interface Valid {
  name: string;
  op: string | null;
  kind: FrameKind;
  requestId: number;
  opcode?: number;
  object: Record<string, unknown>;
}

const UUID = '6f1c2d0e-3b5a-4c7e-9f10-2a4b6c8d0e1f';
const P256_OID = '06082a8648ce3d030107';

const VALID: Valid[] = [
  { name: 'hello request: u64 list and string', op: 'hello', kind: 1, requestId: 1, object: { versions: [1], client: 'OpenCloudHSM-pkcs11/0.1.0' } },
  { name: 'hello response: all u64 and string fields', op: 'hello', kind: 2, requestId: 1, object: { version: 1, server: 'OpenCloudHSM/0.1.0 node', maxBody: 16777216, node: 2 } },
  { name: 'login request (docs/protocol.md §7)', op: 'login', kind: 1, requestId: 1, object: { user: 'cu1', password: 'user1234' } },
  { name: 'login request with role', op: 'login', kind: 1, requestId: 2, object: { user: 'admin', password: 'tenantadmin', role: 'PRECO' } },
  { name: 'login response (docs/protocol.md §7)', op: 'login', kind: 2, requestId: 1, object: { user: 'cu1', role: 'CU' } },
  {
    name: 'login error response: ERR_LOGIN_FAILED (0xA3)', op: 'login', kind: 2, requestId: 3,
    object: { error: { rv: P.CKR_PIN_EXPIRED, code: 'ERR_LOGIN_FAILED', message: LOGIN_FAILED_MESSAGE } },
  },
  { name: 'logout request: empty body', op: 'logout', kind: 1, requestId: 2, object: {} },
  { name: 'logout response: rv only', op: 'logout', kind: 2, requestId: 2, object: {} },
  { name: 'loginStatus response: bool and optional strings', op: 'loginStatus', kind: 2, requestId: 9, object: { loggedIn: true, user: 'cu1', role: 'CU' } },
  { name: 'openSession request: flags CKF_RW_SESSION | CKF_SERIAL_SESSION', op: 'openSession', kind: 1, requestId: 4, object: { flags: 6 } },
  { name: 'openSession response', op: 'openSession', kind: 2, requestId: 4, object: { session: 1 } },
  {
    name: 'createObject request: attribute list (CK_ULONG LE, CK_BBOOL, UTF-8, bytes) and idempotency key', op: 'createObject', kind: 1, requestId: 5,
    object: {
      session: 1,
      template: [a(P.CKA_CLASS, ulong(P.CKO_DATA)), a(P.CKA_TOKEN, bbool(true)), a(P.CKA_LABEL, utf8('hello')), a(P.CKA_VALUE, 'deadbeef'), a(P.CKA_ID, '')],
      requestId: UUID,
    },
  },
  { name: 'createObject response: first handle 0x40000', op: 'createObject', kind: 2, requestId: 5, object: { handle: 262144 } },
  {
    name: 'getAttributeValue request: u64 list of types', op: 'getAttributeValue', kind: 1, requestId: 6,
    object: { session: 1, handle: 262144, types: [P.CKA_CLASS, P.CKA_LABEL, P.CKA_VALUE] },
  },
  {
    name: 'getAttributeValue response: sensitive attribute absent, per-attribute rv list', op: 'getAttributeValue', kind: 2, requestId: 6,
    object: { attributes: [a(P.CKA_CLASS, ulong(P.CKO_SECRET_KEY)), a(P.CKA_LABEL, utf8('aes1'))], rvs: [P.CKR_OK, P.CKR_OK, P.CKR_ATTRIBUTE_SENSITIVE] },
  },
  {
    name: 'generateKey request: nested mechanism record without parameters', op: 'generateKey', kind: 1, requestId: 7,
    object: {
      session: 1,
      mechanism: { mechanism: P.CKM_AES_KEY_GEN },
      template: [a(P.CKA_VALUE_LEN, ulong(32)), a(P.CKA_TOKEN, bbool(true)), a(P.CKA_ENCRYPT, bbool(true)), a(P.CKA_DECRYPT, bbool(true)), a(P.CKA_LABEL, utf8('aes1'))],
      requestId: '6f1c2d0e-3b5a-4c7e-9f10-2a4b6c8d0e20',
    },
  },
  {
    name: 'generateKeyPair request: two templates', op: 'generateKeyPair', kind: 1, requestId: 8,
    object: {
      mechanism: { mechanism: P.CKM_EC_KEY_PAIR_GEN },
      publicTemplate: [a(P.CKA_EC_PARAMS, P256_OID), a(P.CKA_VERIFY, bbool(true))],
      privateTemplate: [a(P.CKA_SIGN, bbool(true)), a(P.CKA_TOKEN, bbool(true))],
    },
  },
  { name: 'generateKeyPair response', op: 'generateKeyPair', kind: 2, requestId: 8, object: { publicHandle: 262145, privateHandle: 262146 } },
  {
    name: 'encrypt request: AES-GCM parameters (iv, aad, tagBits)', op: 'encrypt', kind: 1, requestId: 4294967295,
    object: {
      session: 1,
      mechanism: { mechanism: P.CKM_AES_GCM, iv: 'cafebabefacedbaddecaf888', aad: 'feedfacedeadbeeffeedfacedeadbeefabaddad2', tagBits: 128 },
      handle: 262147,
      data: 'd9313225f88406e5a55909c5aff5269a',
    },
  },
  {
    name: 'sign request: RSA-PSS parameters (hashAlg, mgf, saltLen)', op: 'sign', kind: 1, requestId: 10,
    object: {
      session: 1,
      mechanism: { mechanism: P.CKM_RSA_PKCS_PSS, hashAlg: P.CKM_SHA256, mgf: P.CKG_MGF1_SHA256, saltLen: 32 },
      handle: 262146,
      data: 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    },
  },
  {
    name: 'deriveKey request: ECDH parameters (kdf, publicData) and a vendor mechanism-sized number', op: 'deriveKey', kind: 1, requestId: 11,
    object: {
      session: 2,
      mechanism: { mechanism: P.CKM_ECDH1_DERIVE, kdf: P.CKD_NULL, publicData: '04' + '11'.repeat(32) + '22'.repeat(32) },
      baseHandle: 262146,
      template: [a(P.CKA_CLASS, ulong(P.CKO_SECRET_KEY)), a(P.CKA_KEY_TYPE, ulong(P.CKK_AES)), a(P.CKA_VALUE_LEN, ulong(16))],
    },
  },
  {
    name: 'digest request: empty data', op: 'digest', kind: 1, requestId: 12,
    object: { mechanism: { mechanism: P.CKM_SHA256 }, data: '' },
  },
  {
    name: 'verify error response: ERR_SIGNATURE_INVALID', op: 'verify', kind: 2, requestId: 13,
    object: { error: { rv: P.CKR_SIGNATURE_INVALID, code: 'ERR_SIGNATURE_INVALID', message: 'signature is invalid' } },
  },
  {
    name: 'error response to an unknown opcode: CKR_FUNCTION_NOT_SUPPORTED', op: null, opcode: 0x07ff, kind: 2, requestId: 14,
    object: { error: { rv: P.CKR_FUNCTION_NOT_SUPPORTED, code: 'ERR_FUNCTION_NOT_SUPPORTED', message: 'opcode 0x07ff is not supported' } },
  },
  {
    name: 'shareKey request: string list and bool', op: 'shareKey', kind: 1, requestId: 15,
    object: { handle: 262146, users: ['cu2', 'cu3'], share: true, requestId: '6f1c2d0e-3b5a-4c7e-9f10-2a4b6c8d0e21' },
  },
  { name: 'keyInfo response', op: 'keyInfo', kind: 2, requestId: 16, object: { owner: 'cu1', shared: ['cu2'], token: true } },
  {
    name: 'listUsers response: list of records', op: 'listUsers', kind: 2, requestId: 17,
    object: {
      users: [
        { id: 1, user: 'admin', role: 'CO', locked: false, failures: 0 },
        { id: 2, user: 'cu1', role: 'CU', locked: true, failures: 5 },
      ],
    },
  },
  { name: 'listUsers response: empty list of records', op: 'listUsers', kind: 2, requestId: 18, object: { users: [] } },
  {
    name: 'getClusterInfo response: node records', op: 'getClusterInfo', kind: 2, requestId: 19,
    object: { nodes: [{ id: 1, hostname: 'hsm1.example.net', port: 2225 }, { id: 2, hostname: 'hsm2.example.net', port: 2225 }, { id: 3, hostname: '10.0.0.7', port: 2225 }] },
  },
  {
    name: 'auditRecords response: record with a nested u64 list and large numbers', op: 'auditRecords', kind: 2, requestId: 20,
    object: {
      records: [{
        seq: 42, time: 1732752000123, user: 'cu1', role: 'CU', action: 'generateKeyPair', handles: [262145, 262146], mechanism: P.CKM_EC_KEY_PAIR_GEN,
        result: 'ok', prev: 'ab'.repeat(32), hash: '0f'.repeat(32),
      }],
    },
  },
  {
    name: 'mechanismInfo response: maximum safe integer', op: 'mechanismInfo', kind: 2, requestId: 21,
    object: { minKeySize: 16, maxKeySize: Number.MAX_SAFE_INTEGER, flags: 0x300 },
  },
  {
    name: 'storeCert request: slot and certificate bytes', op: 'storeCert', kind: 1, requestId: 22,
    object: { slot: 4, cert: '3082010a0282010100c0ffee', requestId: '6f1c2d0e-3b5a-4c7e-9f10-2a4b6c8d0e22' },
  },
  {
    name: 'status response: non-ASCII UTF-8 and optional record list', op: 'status', kind: 2, requestId: 23,
    object: {
      component: 'daemon', version: '0.1.0', uptime: 3600, partitionState: 'opérationnel ✓ 🔑',
      nodes: [{ id: 1, hostname: 'hsm1', port: 2225, state: 'up', inFlight: 3 }, { id: 2, hostname: 'hsm2', port: 2225, state: 'down' }],
    },
  },
  { name: 'loginChanged notice: request id 0', op: 'loginChanged', kind: 3, requestId: 0, object: { loggedIn: false } },
];

function encodeValid(v: Valid): string {
  if (v.kind === KIND_NOTICE) {
    const spec = NOTICES[v.op as NoticeName];
    return toHex(encodeNotice(v.op as NoticeName, fromJson(spec.fields, v.object) as never));
  }
  const err = v.object['error'] as { rv: number; code: HsmErrorCode; message: string } | undefined;
  if (err) {
    const e = new HsmError(err.code, err.message);
    if (e.ckrv !== err.rv) throw new Error(`${v.name}: rv ${err.rv} does not match ${err.code}`);
    const opcode = v.op === null ? v.opcode! : OPS[v.op as OpName].opcode;
    return toHex(encodeErrorResponse(opcode, v.requestId, e));
  }
  const op = v.op as OpName;
  if (v.kind === KIND_REQUEST) return toHex(encodeRequest(op, v.requestId, fromJson(OPS[op].request, v.object) as never));
  if (v.kind === KIND_RESPONSE) return toHex(encodeResponse(op, v.requestId, fromJson(OPS[op].response, v.object) as never));
  throw new Error(`${v.name}: bad kind`);
}

/* ─────────────────────────── malformed frames, byte by byte ─────────────────────────── */

const h8 = (n: number) => n.toString(16).padStart(2, '0');
const h16 = (n: number) => n.toString(16).padStart(4, '0');
const h32 = (n: number) => n.toString(16).padStart(8, '0');
const h64 = (n: bigint) => n.toString(16).padStart(16, '0');

function header(o: { magic?: string; version?: number; kind?: number; id?: number; opcode?: number; flags?: number; length: number }): string {
  return (o.magic ?? '4f48') + h8(o.version ?? 1) + h8(o.kind ?? 1) + h32(o.id ?? 1) + h16(o.opcode ?? OPS.login.opcode) + h16(o.flags ?? 0) + h32(o.length);
}
/** A field: id, type, length of the value, value (all hex). */
const field = (id: number, type: number, value: string, length = value.length / 2) => h16(id) + h8(type) + h32(length) + value;
/** A frame around a body (hex), with a correct length unless told otherwise. */
const frame = (body: string, o: { kind?: number; id?: number; opcode?: number } = {}) => header({ ...o, length: body.length / 2 }) + body;

const USER = field(1, 3, utf8('cu1'));
const PASSWORD = field(2, 3, utf8('user1234'));
const LOGIN_BODY = USER + PASSWORD;

interface Malformed {
  name: string;
  hex: string;
  code: HsmErrorCode;
  message: string;
}

/* Records nested `depth` deep inside a status-free body: field 1 of type 7 each time. */
function nested(depth: number): string {
  let body = '';
  for (let i = 0; i < depth; i++) body = field(1, 7, body);
  return body;
}

const MALFORMED: Malformed[] = [
  { name: 'bad magic', hex: header({ magic: '4f49', length: 0 }), code: 'ERR_PROTOCOL', message: 'bad magic' },
  { name: 'bad magic: not this protocol at all (an HTTP request)', hex: utf8('GET / HTTP/1.1\r\n'), code: 'ERR_PROTOCOL', message: 'bad magic' },
  { name: 'version 2', hex: header({ version: 2, length: 0 }), code: 'ERR_PROTOCOL', message: 'unsupported protocol version 2' },
  { name: 'unknown kind 4', hex: header({ kind: 4, length: 0 }), code: 'ERR_PROTOCOL', message: 'unknown frame kind 4' },
  { name: 'flags not 0', hex: header({ flags: 0x8000, length: 0 }), code: 'ERR_PROTOCOL', message: 'flags must be 0' },
  { name: 'request with request id 0', hex: header({ id: 0, opcode: OPS.logout.opcode, length: 0 }), code: 'ERR_PROTOCOL', message: 'request id 0 is reserved' },
  { name: 'notice with a request id', hex: header({ kind: 3, id: 5, opcode: NOTICES.goodbye.opcode, length: 0 }), code: 'ERR_PROTOCOL', message: 'a notice must have request id 0' },
  { name: 'truncated header (10 of 16 bytes)', hex: header({ length: 25 }).slice(0, 20), code: 'ERR_PROTOCOL', message: 'truncated frame' },
  { name: 'truncated body (20 of 25 bytes)', hex: frame(LOGIN_BODY).slice(0, 2 * (16 + 20)), code: 'ERR_PROTOCOL', message: 'truncated frame body' },
  { name: 'body length over the limit (16 MiB + 1), refused from the header alone', hex: header({ length: 16 * 1024 * 1024 + 1 }), code: 'ERR_LIMIT', message: 'exceeds maxBodyBytes' },
  { name: 'body length 4 GiB - 1, refused from the header alone', hex: header({ length: 0xffffffff }), code: 'ERR_LIMIT', message: 'exceeds maxBodyBytes' },
  { name: 'trailing bytes after the frame', hex: frame(LOGIN_BODY) + '00', code: 'ERR_PROTOCOL', message: 'trailing bytes' },
  { name: 'fields out of order', hex: frame(PASSWORD + USER), code: 'ERR_PROTOCOL', message: 'field 1 out of order' },
  { name: 'duplicate field', hex: frame(USER + USER + PASSWORD), code: 'ERR_PROTOCOL', message: 'duplicate field 1' },
  { name: 'field id 0', hex: frame(field(0, 3, utf8('x')) + LOGIN_BODY), code: 'ERR_PROTOCOL', message: 'field id 0 is reserved' },
  { name: 'unknown field type 10', hex: frame(field(1, 10, '00') + PASSWORD), code: 'ERR_PROTOCOL', message: 'unknown field type 10' },
  { name: 'truncated field header', hex: frame(LOGIN_BODY + '000303'), code: 'ERR_PROTOCOL', message: 'truncated field header' },
  { name: 'field value longer than the body', hex: frame(USER + field(2, 3, utf8('user1234'), 100)), code: 'ERR_PROTOCOL', message: 'is truncated' },
  {
    name: 'bool of 2 bytes', hex: frame(field(1, 4, '0001') + field(2, 3, utf8('cu1')), { opcode: OPS.loginStatus.opcode }),
    code: 'ERR_PROTOCOL', message: 'bool must be 1 byte',
  },
  { name: 'bool value 2', hex: frame(field(1, 4, '02'), { opcode: OPS.loginStatus.opcode }), code: 'ERR_PROTOCOL', message: 'bool must be 0 or 1' },
  { name: 'u64 of 4 bytes', hex: frame(field(1, 1, '00000001'), { opcode: OPS.closeSession.opcode }), code: 'ERR_PROTOCOL', message: 'u64 must be 8 bytes' },
  { name: 'bad UTF-8: invalid byte 0xff', hex: frame(field(1, 3, '63ff31') + PASSWORD), code: 'ERR_PROTOCOL', message: 'not valid UTF-8' },
  { name: 'bad UTF-8: overlong encoding of "/"', hex: frame(field(1, 3, 'c0af') + PASSWORD), code: 'ERR_PROTOCOL', message: 'not valid UTF-8' },
  { name: 'bad UTF-8: encoded surrogate U+D800', hex: frame(field(1, 3, 'eda080') + PASSWORD), code: 'ERR_PROTOCOL', message: 'not valid UTF-8' },
  { name: 'bad UTF-8: truncated sequence', hex: frame(field(1, 3, '63e282') + PASSWORD), code: 'ERR_PROTOCOL', message: 'not valid UTF-8' },
  { name: 'string over 4 KiB', hex: frame(field(1, 3, '61'.repeat(4097)) + PASSWORD), code: 'ERR_LIMIT', message: 'exceeds maxStringBytes' },
  {
    name: 'attribute count over the limit (65), refused before reading the attributes',
    hex: frame(field(2, 5, h32(65)), { opcode: OPS.createObject.opcode }), code: 'ERR_LIMIT', message: '65 attributes exceed 64',
  },
  {
    name: 'attribute value over 64 KiB, refused from its declared length',
    hex: frame(field(2, 5, h32(1) + h32(P.CKA_VALUE) + h32(65537)), { opcode: OPS.createObject.opcode }), code: 'ERR_LIMIT', message: 'exceeds maxAttributeBytes',
  },
  {
    name: 'attribute list with bytes after the last attribute',
    hex: frame(field(2, 5, h32(1) + h32(P.CKA_TOKEN) + h32(1) + '01' + 'ff'), { opcode: OPS.createObject.opcode }), code: 'ERR_PROTOCOL', message: 'after the last attribute',
  },
  {
    name: 'attribute count larger than its bytes',
    hex: frame(field(2, 5, h32(3) + h32(P.CKA_TOKEN) + h32(1) + '01'), { opcode: OPS.createObject.opcode }), code: 'ERR_PROTOCOL', message: 'truncated',
  },
  {
    name: 'u64 list whose length does not match its count',
    hex: frame(field(1, 6, h32(2) + h64(1n)), { opcode: OPS.hello.opcode }), code: 'ERR_PROTOCOL', message: 'a list of 2 u64 must be 20 bytes',
  },
  {
    name: 'list count over the limit (65537), refused before reading the list',
    hex: frame(field(1, 6, h32(65537)), { opcode: OPS.hello.opcode }), code: 'ERR_LIMIT', message: '65537 list elements exceed 65536',
  },
  { name: 'records nested 5 deep', hex: frame(nested(5), { opcode: OPS.status.opcode }), code: 'ERR_LIMIT', message: 'nesting deeper than maxDepth (4)' },
  {
    name: 'more than 256 fields in one body',
    hex: frame(Array.from({ length: 257 }, (_, i) => field(i + 1, 2, '')).join(''), { opcode: OPS.status.opcode }), code: 'ERR_LIMIT', message: 'more than maxFields (256)',
  },
  { name: 'unknown opcode', hex: frame('', { opcode: 0x07ff }), code: 'ERR_FUNCTION_NOT_SUPPORTED', message: 'opcode 0x07ff is not supported' },
  { name: 'unknown field for the opcode', hex: frame(LOGIN_BODY + field(9, 3, utf8('x'))), code: 'ERR_ARGUMENTS_BAD', message: 'unknown field 9' },
  { name: 'required field missing', hex: frame(USER), code: 'ERR_ARGUMENTS_BAD', message: 'missing required field password (2)' },
  { name: 'field of the wrong type', hex: frame(field(1, 1, h64(7n)) + PASSWORD), code: 'ERR_ARGUMENTS_BAD', message: 'field user (1) must be of type string' },
  {
    name: 'number above 2^53-1',
    hex: frame(field(1, 1, h64((1n << 53n))), { opcode: OPS.closeSession.opcode }), code: 'ERR_ARGUMENTS_BAD', message: 'above 2^53-1',
  },
  {
    name: 'getAttributeValue with more than 64 types',
    hex: frame(field(2, 1, h64(262144n)) + field(3, 6, h32(65) + h64(0n).repeat(65)), { opcode: OPS.getAttributeValue.opcode }),
    code: 'ERR_LIMIT', message: 'more than 64',
  },
];

const frames = {
  source: 'generated by this project with packages/protocol/src (tools/protocol-vectors.ts), reviewed by hand against docs/protocol.md',
  format: 'docs/protocol.md §8: hex is the exact frame; object is the JSON form (u64 as numbers, bytes as lower-case hex, attributes as {type, value: hex}); error responses as {error: {rv, code, message}}',
  vectors: VALID.map((v) => ({
    name: v.name,
    op: v.op,
    kind: v.kind,
    requestId: v.requestId,
    opcode: v.op === null ? v.opcode! : v.kind === KIND_NOTICE ? NOTICES[v.op as NoticeName].opcode : OPS[v.op as OpName].opcode,
    object: v.object,
    hex: encodeValid(v),
  })),
};

const malformed = {
  source: 'generated by this project (tools/protocol-vectors.ts), frames assembled byte by byte',
  format: 'docs/protocol.md §8: each hex MUST be refused with code; message is a substring of the TypeScript message. Decode order: whole frame, then for requests the opcode, the body TLV and the schema; for other kinds the body TLV',
  vectors: MALFORMED,
};

const text = (o: unknown) => JSON.stringify(o, null, 2) + '\n';
if (process.argv.includes('--write')) {
  writeFileSync(vectorPath('protocol', 'frames.json'), text(frames));
  writeFileSync(vectorPath('protocol', 'malformed.json'), text(malformed));
  console.log(`wrote ${frames.vectors.length} frames and ${malformed.vectors.length} malformed frames`);
} else {
  process.stdout.write(text({ frames, malformed }));
}
