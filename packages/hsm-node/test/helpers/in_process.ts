/**
 * What the node's in-process unit tests share: partitions over one in-memory
 * store standing for nodes of one cluster, a cheap scrypt cost, a temporary
 * directory per test file, and the HsmError check with the code (and message)
 * expected.
 */
import { before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { HsmError } from '../../../protocol/src/errors.js';
import { MemoryStore } from '../../../store/src/memory.js';
import { Partition } from '../../../hsm-core/src/partition.js';

/** scrypt at 2^10: sign-ins in milliseconds. */
export const FAST = { scrypt: { N: 1 << 10, r: 8, p: 1, keyLen: 32 } };

/** For assert.rejects/throws: an HsmError with this code, and a message matching `message` if given. */
export const code = (c: string, message?: RegExp) => (e: unknown) => {
  if (e instanceof HsmError && e.code === c && (!message || message.test(e.message))) return true;
  throw new assert.AssertionError({ message: `expected ${c}${message ? ` matching ${message}` : ''}, got ${e instanceof HsmError ? `${e.code}: ${e.message}` : String(e)}` });
};

/** A temporary directory made before the file's tests and removed after them; call at top level. */
export function tempDirForFile(prefix: string): () => string {
  let dir = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), `ochsm-${prefix}-`));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));
  return () => dir;
}

/** Two partitions over one fresh in-memory store: two nodes of one cluster. */
export async function twoNodePartitions() {
  const store = new MemoryStore();
  const maskingKey = randomBytes(32);
  const p1 = await Partition.open({ store, maskingKey, config: FAST });
  const p2 = await Partition.open({ store, maskingKey, config: FAST });
  return { store, p1, p2, close: () => { p1.close(); p2.close(); } };
}
