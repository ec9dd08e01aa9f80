/**
 * @module Key Management: findKey, findSingleKey, deleteKey, getAttribute,
 * setAttribute, getKeyInfo, listAttributes.
 *
 * Attribute ids are the PKCS#11 CKA_* numbers, which are the Cavium OBJ_ATTR_*
 * ids (134 = OBJ_ATTR_TRUSTED = CKA_TRUSTED); they print as OBJ_ATTR_<name>.
 */
import * as P from '../../../protocol/src/pkcs11.js';
import { HsmError } from '../../../protocol/src/errors.js';
import { ckrName } from '../../../protocol/src/names.js';
import { ATTRIBUTE_KINDS, attr, encodeUlong, type Attribute } from '../../../protocol/src/attributes.js';
import { handle, hexBytes, integer, need, str, zeroOne } from './args.js';
import { handleList } from './format.js';
import { writeOutput } from './cmd_crypto.js';
import { KEY_CLASS_NAMES, KEY_TYPE_NAMES } from './ids.js';
import type { UtilSession } from './session.js';
import { ApiFailure, UsageError, type UtilCommand } from './types.js';

export { LISTED_ATTRIBUTES, OBJ_ATTR_ALL, formatAttrValue, objAttrName } from '../common/attr_display.js';
import { LISTED_ATTRIBUTES, OBJ_ATTR_ALL, formatAttrValue, objAttrName } from '../common/attr_display.js';

/** Read attributes of one object; a single unreadable one is an error naming it. */
export async function readAttributes(s: UtilSession, api: string, h: number, types: readonly number[]): Promise<Map<number, Buffer>> {
  const r = await s.req(api, 'getAttributeValue', { ...s.sessionField, handle: h, types: [...types] });
  const m = new Map<number, Buffer>();
  for (const a of r.attributes) m.set(a.type, Buffer.from(a.value));
  return m;
}

/** Like readAttributes, but every type must be readable. */
export async function requireAttributes(s: UtilSession, api: string, h: number, types: readonly number[]): Promise<Map<number, Buffer>> {
  const r = await s.req(api, 'getAttributeValue', { ...s.sessionField, handle: h, types: [...types] });
  const bad = r.rvs.findIndex((rv) => rv !== 0);
  if (bad >= 0) {
    const rv = r.rvs[bad]!;
    throw new ApiFailure(api, new HsmError(rv === P.CKR_ATTRIBUTE_SENSITIVE ? 'ERR_ATTRIBUTE_SENSITIVE' : 'ERR_ATTRIBUTE_TYPE_INVALID',
      `${objAttrName(types[bad]!)} of key ${h} cannot be read (${ckrName(rv)})`));
  }
  const m = new Map<number, Buffer>();
  for (const a of r.attributes) m.set(a.type, Buffer.from(a.value));
  return m;
}

export const ulongOf = (v: Buffer | undefined): number | undefined => (v && v.length === 8 ? Number(v.readBigUInt64LE()) : undefined);
export const boolOf = (v: Buffer | undefined): boolean => v !== undefined && v[0] === 1;

/** Handles of the keys (public, private, secret) matching `filters`, sorted. */
async function findKeys(s: UtilSession, classes: readonly number[], filters: readonly Attribute[]): Promise<number[]> {
  const all = new Set<number>();
  for (const cls of classes) {
    const r = await s.req('Cfm3FindKey', 'findObjects', { ...s.sessionField, template: [attr.ulong(P.CKA_CLASS, cls), ...filters] });
    for (const h of r.handles) all.add(h);
  }
  return [...all].sort((a, b) => a - b);
}

const KEY_CLASSES = [...KEY_CLASS_NAMES.keys()];

const findKey: UtilCommand = {
  name: 'findKey',
  category: 'Key Management',
  help: 'Find keys: every key you own or that is shared with you, optionally filtered',
  syntax: 'findKey [-c <key class>] [-t <key type>] [-l <key label>] [-id <key id>] [-sess <0/1>] [-kcv <key check value>]',
  details: [
    `-c  key class: ${[...KEY_CLASS_NAMES].map(([k, v]) => `${k} = ${v}`).join(', ')}`,
    `-t  key type: ${[...KEY_TYPE_NAMES].map(([k, v]) => `${k} = ${v}`).join(', ')}`,
    '-l  label;  -id key id (text, or hex with 0x)',
    '-sess 1: session keys only; 0: token keys only',
    '-kcv key check value (hex, 3 bytes) of a secret key',
    'A key must match every filter given.',
  ],
  opts: { '-c': 'value', '-t': 'value', '-l': 'value', '-id': 'value', '-sess': 'value', '-kcv': 'value' },
  async run(s, o) {
    const filters: Attribute[] = [];
    let classes = KEY_CLASSES;
    const c = str(o, '-c');
    if (c !== undefined) {
      const cls = integer(c, 'key class');
      if (!KEY_CLASS_NAMES.has(cls)) throw new UsageError(`Invalid key class ${c}: expected ${KEY_CLASSES.join(', ')}`);
      classes = [cls];
    }
    const t = str(o, '-t');
    if (t !== undefined) {
      const kt = integer(t, 'key type');
      if (!KEY_TYPE_NAMES.has(kt)) throw new UsageError(`Invalid key type ${t}: expected ${[...KEY_TYPE_NAMES.keys()].join(', ')}`);
      filters.push(attr.ulong(P.CKA_KEY_TYPE, kt));
    }
    const l = str(o, '-l');
    if (l !== undefined) filters.push(attr.utf8(P.CKA_LABEL, l));
    const id = str(o, '-id');
    if (id !== undefined) filters.push(attr.bytes(P.CKA_ID, /^0[xX][0-9a-fA-F]+$/.test(id) ? hexBytes(id, 'key id') : Buffer.from(id, 'utf8')));
    const sess = str(o, '-sess');
    if (sess !== undefined) {
      const only = zeroOne(sess, '-sess value');
      filters.push(attr.bool(P.CKA_TOKEN, !only));
      if (only && s.sessionField.session === undefined) await s.session();
    }
    const kcv = str(o, '-kcv');
    if (kcv !== undefined) filters.push(attr.bytes(P.CKA_CHECK_VALUE, hexBytes(kcv, 'key check value', 3)));
    const matched = await findKeys(s, classes, filters);
    const total = filters.length === 0 && classes === KEY_CLASSES ? matched.length : (await findKeys(s, KEY_CLASSES, [])).length;
    s.ok('Cfm3FindKey');
    s.para(`Total number of keys present: ${total}`);
    s.para(`number of keys matched from start index 0::${matched.length}`, ...(matched.length ? [handleList(matched)] : []));
    await s.clusterStatus();
    return true;
  },
};

const findSingleKey: UtilCommand = {
  name: 'findSingleKey',
  category: 'Key Management',
  help: 'Checks that a key exists on all nodes of the cluster',
  syntax: 'findSingleKey -k <key handle>',
  opts: { '-k': 'value' },
  required: ['-k'],
  async run(s, o) {
    const h = handle(need(o, '-k'));
    await requireAttributes(s, 'Cfm3FindSingleKey', h, [P.CKA_CLASS]);
    s.ok('Cfm3FindSingleKey');
    s.para(`Key handle ${h} is present (the nodes share one replicated store)`);
    await s.clusterStatus();
    return true;
  },
};

const deleteKey: UtilCommand = {
  name: 'deleteKey',
  category: 'Key Management',
  help: 'Deletes a key (owner only; one half of a pair leaves the other)',
  syntax: 'deleteKey -k <key handle>',
  opts: { '-k': 'value' },
  required: ['-k'],
  async run(s, o) {
    const h = handle(need(o, '-k'));
    await s.req('Cfm3DeleteKey', 'destroyObject', { ...s.sessionField, handle: h });
    s.ok('Cfm3DeleteKey');
    s.para(`Key ${h} deleted`);
    await s.clusterStatus();
    return true;
  },
};

const getAttribute: UtilCommand = {
  name: 'getAttribute',
  category: 'Key Management',
  help: 'Gets an attribute value of a key (512: all of them)',
  syntax: 'getAttribute -o <object handle> -a <attribute id> [-out <file>]',
  details: [
    '-a  attribute id (see listAttributes), e.g. 3 OBJ_ATTR_LABEL, 134 OBJ_ATTR_TRUSTED; 512 for all',
    '-out also write the attribute(s) to this file',
  ],
  opts: { '-o': 'value', '-a': 'value', '-out': 'value' },
  required: ['-o', '-a'],
  async run(s, o) {
    const h = handle(need(o, '-o'), 'object handle');
    const id = integer(need(o, '-a'), 'attribute id');
    const values = id === OBJ_ATTR_ALL
      ? await readAttributes(s, 'Cfm3GetAttribute', h, LISTED_ATTRIBUTES)
      : await requireAttributes(s, 'Cfm3GetAttribute', h, [id]);
    const lines: string[] = [];
    for (const t of id === OBJ_ATTR_ALL ? LISTED_ATTRIBUTES : [id]) {
      const v = values.get(t);
      if (v !== undefined) lines.push(objAttrName(t), formatAttrValue(t, v));
    }
    const out = str(o, '-out');
    if (out !== undefined) {
      /* The listing may hold CKA_VALUE: a new owner-only file. */
      writeOutput(out, lines.join('\n') + '\n', 0o600);
    }
    s.ok('Cfm3GetAttribute');
    s.para(...lines, ...(out !== undefined ? ['', `Attribute(s) written to file ${out}`] : []));
    return true;
  },
};

/** Encode a command-line value for an attribute, by the attribute's kind. */
export function encodeAttrValue(type: number, v: string): Uint8Array {
  const kind = ATTRIBUTE_KINDS.get(type);
  switch (kind) {
    case 'bool':
      return Uint8Array.of(zeroOne(v, `value for ${objAttrName(type)}`) ? 1 : 0);
    case 'ulong':
      return encodeUlong(integer(v, `value for ${objAttrName(type)}`));
    case 'utf8':
      return Buffer.from(v, 'utf8');
    case 'date':
      if (!/^[0-9]{8}$/.test(v)) throw new UsageError(`Invalid value '${v}' for ${objAttrName(type)}: expected YYYYMMDD`);
      return Buffer.from(v, 'latin1');
    case 'bytes':
      return hexBytes(v, `value for ${objAttrName(type)}`);
    default:
      throw new UsageError(`Invalid attribute id ${type}: see listAttributes`);
  }
}

const setAttribute: UtilCommand = {
  name: 'setAttribute',
  category: 'Key Management',
  help: 'Sets an attribute of a key you own',
  syntax: 'setAttribute -o <object handle> -a <attribute id> -v <value>',
  details: [
    '-a  attribute id (see listAttributes); -v value: 0/1 for booleans, text for the label, a number for integers',
    'OBJ_ATTR_TRUSTED (134) is set by a CO in azcloudhsm_mgmt_util: setAttribute <handle> 134 1.',
  ],
  opts: { '-o': 'value', '-a': 'value', '-v': 'value' },
  required: ['-o', '-a', '-v'],
  async run(s, o) {
    const h = handle(need(o, '-o'), 'object handle');
    const id = integer(need(o, '-a'), 'attribute id');
    const value = encodeAttrValue(id, need(o, '-v'));
    await s.req('Cfm3SetAttributeValue', 'setAttributeValue', { ...s.sessionField, handle: h, template: [{ type: id, value }] });
    s.ok('Cfm3SetAttributeValue');
    await s.clusterStatus();
    return true;
  },
};

const getKeyInfo: UtilCommand = {
  name: 'getKeyInfo',
  category: 'Key Management',
  help: 'Gets the owner, the users a key is shared with, and whether it is a token or session key',
  syntax: 'getKeyInfo -k <key handle>',
  opts: { '-k': 'value' },
  required: ['-k'],
  async run(s, o) {
    const h = handle(need(o, '-k'));
    const r = await s.req('Cfm3GetKeyInfo', 'keyInfo', { ...s.sessionField, handle: h });
    let ids = new Map<string, number>();
    try {
      ids = new Map((await s.req('Cfm3GetKeyInfo', 'listUsers', {})).users.map((u) => [u.user, u.id]));
    } catch {
      /* names only */
    }
    const who = (u: string) => (ids.has(u) ? `${ids.get(u)}(${u})` : u);
    s.ok('Cfm3GetKeyInfo');
    s.para(r.token ? 'Token/Flash Key,' : 'Session Key,');
    s.para(`Owned by user ${who(r.owner)}`);
    if (r.shared.length > 0) s.para(`also, shared to following ${r.shared.length} user(s):`, '', ...r.shared.map((u) => `         ${who(u)}`));
    await s.clusterStatus();
    return true;
  },
};

const listAttributes: UtilCommand = {
  name: 'listAttributes',
  category: 'Helper',
  help: 'Lists the attribute ids getAttribute and setAttribute take',
  syntax: 'listAttributes',
  async run(s) {
    s.out();
    s.out('Following are the possible attribute values for getAttribute:');
    s.out();
    for (const t of LISTED_ATTRIBUTES) s.out(`      ${objAttrName(t).padEnd(30)}= ${t}`);
    s.out(`      ${'OBJ_ATTR_ALL'.padEnd(30)}= ${OBJ_ATTR_ALL}`);
    return true;
  },
};

export const KEY_COMMANDS: readonly UtilCommand[] = [findKey, findSingleKey, deleteKey, getAttribute, setAttribute, getKeyInfo, listAttributes];
