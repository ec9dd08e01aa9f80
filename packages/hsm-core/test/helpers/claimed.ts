/**
 * The partition most core tests start from: opened on a store with a fresh
 * masking key and fast scrypt, claimed (the PRECO `admin` sets its password
 * and becomes the CO), with one crypto user `cu1` signed in.
 */
import { randomBytes } from 'node:crypto';
import type { KeyValueStore } from '../../../store/src/types.js';
import { Partition, type CallContext } from '../../src/partition.js';

/** Fast scrypt parameters for tests (never for a real partition). */
export const FAST = { scrypt: { N: 1 << 10, r: 8, p: 1, keyLen: 32 } };

export async function claimedPartition(store: KeyValueStore) {
  const maskingKey = randomBytes(32);
  const p = await Partition.open({ store, maskingKey, config: FAST });
  const preco = await p.login('admin', 'tenantadmin', 'PRECO');
  await p.changePassword({ principal: preco }, 'PRECO', 'admin', 'adminpassword');
  const co: CallContext = { principal: await p.login('admin', 'adminpassword', 'CO') };
  await p.createUser(co, 'CU', 'cu1', 'user1234');
  const cu1: CallContext = { principal: await p.login('cu1', 'user1234', 'CU') };
  return { p, store, maskingKey, co, cu1 };
}
