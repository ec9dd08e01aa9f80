/**
 * @module Key commands: setAttribute (only `134 1`, OBJ_ATTR_TRUSTED — the
 * CO marking a CU's key trusted, the Azure Cloud HSM guides), getAttribute, listAttributes,
 * findAllKeys, getKeyInfo, shareKey, syncKey.
 *
 * Attribute ids are the PKCS#11 numbers (the Cavium OBJ_ATTR_* ids are the
 * same: 134 = CKA_TRUSTED = 0x86); they print as OBJ_ATTR_<name>.
 */
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import * as P from '../../../protocol/src/pkcs11.js';
import { HsmError } from '../../../protocol/src/errors.js';
import { ckrName } from '../../../protocol/src/names.js';
import type { ResponseOf } from '../../../protocol/src/messages.js';
import type { Server, Session } from './session.js';
import { syncTarget } from './cmd_users.js';
import { UsageError, integer, type Command } from './types.js';

export { OBJ_ATTR_TRUSTED, objAttrName } from '../common/attr_display.js';
import { LISTED_ATTRIBUTES, OBJ_ATTR_ALL, OBJ_ATTR_TRUSTED, formatAttrValue, objAttrName } from '../common/attr_display.js';

function handleArg(arg: string): number {
  return integer(arg, 'key handle');
}

type UserRow = ResponseOf<'listUsers'>['users'][number];

async function userTable(s: Session, srv: Server): Promise<UserRow[]> {
  return [...(await s.req(srv, 'listUsers', {})).users];
}

const userRef = (list: readonly UserRow[], name: string) => {
  const u = list.find((x) => x.user === name);
  return u ? `${u.id}(${name})` : name;
};

const setAttribute: Command = {
  name: 'setAttribute',
  scope: 'both',
  help: 'Set an attribute of a key: only 134 1 (OBJ_ATTR_TRUSTED), by a CO',
  syntax: 'setAttribute <key handle> <attribute id> <attribute value>',
  details: ['Only "setAttribute <key handle> 134 1" is supported: it marks the key trusted (OBJ_ATTR_TRUSTED), e.g. the user KEK.'],
  args: [3, 3],
  caution: true,
  validate(a) {
    handleArg(a[0]!);
    if (a[1] !== String(OBJ_ATTR_TRUSTED) || a[2] !== '1') {
      throw new UsageError(`Attribute ${a[1]} value ${a[2]} is not supported: only 134 (OBJ_ATTR_TRUSTED) with value 1 can be set`);
    }
  },
  async run(s, a) {
    const handle = handleArg(a[0]!);
    return s.each('setAttribute', async (srv) => {
      await s.req(srv, 'setAttributeValue', { handle, template: [{ type: OBJ_ATTR_TRUSTED, value: Uint8Array.of(1) }] });
    });
  },
};

const getAttribute: Command = {
  name: 'getAttribute',
  scope: 'both',
  help: 'Get an attribute of a key (512: all of them)',
  syntax: 'getAttribute <key handle> <attribute id>',
  details: ['attribute id: a PKCS#11 CKA_* number, e.g. 134 OBJ_ATTR_TRUSTED, 256 OBJ_ATTR_KEY_TYPE, 3 OBJ_ATTR_LABEL; 512 for all (see listAttributes)'],
  args: [2, 2],
  validate(a) {
    handleArg(a[0]!);
    integer(a[1]!, 'attribute id');
  },
  async run(s, a) {
    const handle = handleArg(a[0]!);
    const id = integer(a[1]!, 'attribute id');
    const types = id === OBJ_ATTR_ALL ? [...LISTED_ATTRIBUTES] : [id];
    return s.each('getAttribute', async (srv) => {
      const r = await s.req(srv, 'getAttributeValue', { handle, types });
      if (id !== OBJ_ATTR_ALL && r.rvs[0] !== 0) {
        const rv = r.rvs[0]!;
        throw new HsmError(rv === P.CKR_ATTRIBUTE_SENSITIVE ? 'ERR_ATTRIBUTE_SENSITIVE' : 'ERR_ATTRIBUTE_TYPE_INVALID',
          `${objAttrName(id)} of key ${handle} cannot be read (${ckrName(rv)})`);
      }
      s.out(`Attribute Value on ${s.label(srv)}:`);
      for (const at of r.attributes) {
        s.out(objAttrName(at.type));
        s.out(formatAttrValue(at.type, at.value));
      }
    });
  },
};

const listAttributes: Command = {
  name: 'listAttributes',
  scope: 'both',
  help: 'List the attribute ids getAttribute understands',
  syntax: 'listAttributes',
  args: [0, 0],
  async run(s) {
    s.out('Following are the possible attribute values for getAttribute:');
    s.out();
    for (const t of LISTED_ATTRIBUTES) s.out(`      ${objAttrName(t).padEnd(30)}= ${t}`);
    s.out(`      ${'OBJ_ATTR_ALL'.padEnd(30)}= ${OBJ_ATTR_ALL}`);
    return true;
  },
};

const findAllKeys: Command = {
  name: 'findAllKeys',
  scope: 'both',
  help: 'List the keys of a user (0: every key), (o) owned, (s) shared',
  syntax: 'findAllKeys <user id> <key hash (0/1)> [<output file>]',
  details: [
    'user id: 0 for every key on the partition, else the keys that user owns (o) or has shared with it (s)',
    'key hash: 1 adds a SHA-256 over the handles, owners and sharing, to compare servers at a glance',
    'output file: also write the handles to this file, one per line',
  ],
  args: [2, 3],
  validate(a) {
    integer(a[0]!, 'user id');
    if (a[1] !== '0' && a[1] !== '1') throw new UsageError(`Invalid key hash '${a[1]}': 0 or 1`);
  },
  async run(s, a) {
    const uid = integer(a[0]!, 'user id');
    const withHash = a[1] === '1';
    const outFile = a[2];
    let written = false;
    return s.each('findAllKeys', async (srv) => {
      let who: UserRow | undefined;
      if (uid !== 0) {
        who = (await userTable(s, srv)).find((u) => u.id === uid);
        if (!who) throw new HsmError('ERR_USER_NOT_FOUND', "This user doesn't exist");
      }
      const { handles } = await s.req(srv, 'findObjects', { template: [] });
      const entries: { handle: number; mark: string; info: string }[] = [];
      for (const h of handles) {
        if (!who && !withHash) {
          entries.push({ handle: h, mark: '', info: '' });
          continue;
        }
        const ki = await s.req(srv, 'keyInfo', { handle: h });
        const info = `${h}:${ki.owner}:${[...ki.shared].sort().join(',')}`;
        if (!who) entries.push({ handle: h, mark: '', info });
        else if (ki.owner === who.user) entries.push({ handle: h, mark: '(o)', info });
        else if (ki.shared.includes(who.user)) entries.push({ handle: h, mark: '(s)', info });
      }
      s.out(`Keys on ${s.label(srv)}:`);
      s.out(`Number of keys found ${entries.length}`);
      s.out(`number of keys matched from start index 0::${entries.length}`);
      s.out(entries.map((e) => `${e.handle}${e.mark}`).join(', '));
      if (withHash) s.out(`Key hash: ${createHash('sha256').update(entries.map((e) => e.info).join('\n')).digest('hex')}`);
      if (outFile && !written) {
        writeFileSync(outFile, entries.map((e) => `${e.handle}${e.mark}\n`).join(''), { mode: 0o644 });
        written = true;
      }
    });
  },
};

const getKeyInfo: Command = {
  name: 'getKeyInfo',
  scope: 'both',
  help: 'Show the owner of a key and the users it is shared with',
  syntax: 'getKeyInfo <key handle>   (or: getKeyInfo -k <key handle>)',
  args: [1, 2],
  validate(a) {
    if (a.length === 2 && a[0] !== '-k') throw new UsageError(`Unknown option '${a[0]}'`);
    handleArg(a[a.length - 1]!);
  },
  async run(s, a) {
    const handle = handleArg(a[a.length - 1]!);
    return s.each('getKeyInfo', async (srv) => {
      const ki = await s.req(srv, 'keyInfo', { handle });
      const list = await userTable(s, srv);
      s.out(`Key Info on ${s.label(srv)}:`);
      s.out(ki.token ? '\tToken/Flash Key,' : '\tSession Key,');
      s.out(`\tOwned by user ${userRef(list, ki.owner)}`);
      if (ki.shared.length > 0) {
        s.out(`\talso, shared to following ${ki.shared.length} user(s):`);
        for (const u of ki.shared) s.out(`\t\t ${userRef(list, u)}`);
      }
    });
  },
};

const shareKey: Command = {
  name: 'shareKey',
  scope: 'both',
  help: 'Share a key owned by the logged-in CU with other CUs (1), or stop sharing (0)',
  syntax: 'shareKey <key handle> <user id(s), comma separated> <(share/unshare key?) 1/0>',
  args: [3, 3],
  caution: true,
  validate(a) {
    handleArg(a[0]!);
    for (const id of a[1]!.split(',')) integer(id, 'user id');
    if (a[2] !== '0' && a[2] !== '1') throw new UsageError(`Invalid share flag '${a[2]}': 1 to share, 0 to unshare`);
  },
  async run(s, a) {
    const handle = handleArg(a[0]!);
    const ids = a[1]!.split(',').map((x) => integer(x, 'user id'));
    const share = a[2] === '1';
    return s.each('shareKey', async (srv) => {
      const list = await userTable(s, srv);
      const names = ids.map((id) => {
        const u = list.find((x) => x.id === id);
        if (!u) throw new HsmError('ERR_USER_NOT_FOUND', `user ${id} doesn't exist`);
        return u.user;
      });
      await s.req(srv, 'shareKey', { handle, users: names, share });
    });
  },
};

const syncKey: Command = {
  name: 'syncKey',
  scope: 'server',
  help: 'Copy a key from this server to another one (OpenCloudHSM: confirms it is there)',
  syntax: 'syncKey <key handle> <server id>',
  details: ['The servers share one replicated store, so the key is normally already on the target; the command checks it through the target server.'],
  args: [2, 2],
  async run(s, a) {
    const handle = handleArg(a[0]!);
    const target = syncTarget(s, 'syncKey', a[1]!);
    const src = s.current!;
    try {
      const here = await s.req(src, 'keyInfo', { handle });
      if (!target.client) throw new Error(`Server ${target.index}(${target.hostname}) is not connected`);
      let there: ResponseOf<'keyInfo'>;
      try {
        there = await s.req(target, 'keyInfo', { handle });
      } catch (e) {
        if (e instanceof HsmError && (e.code === 'ERR_KEY_HANDLE_INVALID' || e.code === 'ERR_OBJECT_HANDLE_INVALID')) {
          throw new Error(`key ${handle} is missing on ${s.label(target)} although the store is replicated: check that every server uses the same store`);
        }
        throw e;
      }
      if (there.owner !== here.owner) throw new Error(`key ${handle} on ${s.label(target)} has a different owner (${there.owner}, here ${here.owner})`);
      s.out(`Key ${handle} is already present on ${s.label(target)}: the store is replicated, nothing to copy`);
      s.out('syncKey success');
      return true;
    } catch (e) {
      s.failure('syncKey', undefined, e);
      return false;
    }
  },
};

export const KEY_COMMANDS: readonly Command[] = [setAttribute, getAttribute, listAttributes, findAllKeys, getKeyInfo, shareKey, syncKey];
