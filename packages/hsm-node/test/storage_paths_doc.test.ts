/**
 * docs/storage-format.md §2 lists every path the code writes, and only those: each row names its
 * constant, and the constant produces the row's path (sample arguments for the functions); every
 * path constant of the core's PATH table has a row (its listing prefixes are covered by the row of
 * the same prefix).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PATH } from '../../hsm-core/src/partition/records.js';
import { BARRIER_PREFIX, HEARTBEAT_PREFIX } from '../../hsm-core/src/barrier/barrier.js';
import { HEARTBEAT_PREFIX as OPS_HEARTBEAT_PREFIX } from '../../ops/src/metrics/store.js';
import { PEERS_PREFIX } from '../src/quorum.js';
import { JOIN_PATH } from '../../hsm-core/src/cluster/joins.js';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');
const doc = readFileSync(join(REPO, 'docs', 'storage-format.md'), 'utf8');
const section = doc.slice(doc.indexOf('## 2. Storage paths'), doc.indexOf('## 3.'));
/** [constant, path] of each row of the §2 table. */
const rows = [...section.matchAll(/^\| `([A-Za-z_.]+)`[^|]*\| `([^`]+)`/gm)].map((m) => [m[1]!, m[2]!] as const);

/** What each constant writes, with `<…>` where the row has a placeholder. */
const SAMPLE = '<>';
const CONSTANTS: Record<string, string> = {
  BARRIER_PREFIX, HEARTBEAT_PREFIX: `${HEARTBEAT_PREFIX}${SAMPLE}/${SAMPLE}`, PEERS_PREFIX: `${PEERS_PREFIX}${SAMPLE}`,
};
for (const [k, f] of Object.entries(JOIN_PATH)) CONSTANTS[`JOIN_PATH.${k}`] = (f as (n: never) => string)(SAMPLE as never);
for (const [k, v] of Object.entries(PATH)) {
  CONSTANTS[`PATH.${k}`] = typeof v === 'function' ? (v as (x: never) => string)(SAMPLE as never).replace(/0*<>/, SAMPLE) : v;
}
const shape = (p: string) => p.replace(/<[^>]*>/g, SAMPLE);

test('every row of §2 names a constant that writes its path', () => {
  assert.ok(rows.length >= 12, `read ${rows.length} rows`);
  for (const [name, path] of rows) {
    assert.ok(name in CONSTANTS, `${name} (row ${path}) is not a path constant of the code`);
    assert.equal(CONSTANTS[name], shape(path), `${name}`);
  }
  assert.equal(OPS_HEARTBEAT_PREFIX, HEARTBEAT_PREFIX, 'ops writes heartbeats under the barrier\'s reserved prefix');
});

test('every path the core writes has its row; no row is left over (the old lock/ is gone)', () => {
  const documented = new Set(rows.map(([n]) => n));
  const lists = Object.entries(PATH).filter(([, v]) => typeof v === 'string' && v.endsWith('/')).map(([k]) => `PATH.${k}`);
  for (const name of Object.keys(CONSTANTS)) {
    if (documented.has(name)) continue;
    /* A listing prefix (users/, objects/ …) is covered by the row of what lives under it. */
    assert.ok(lists.includes(name) && rows.some(([, p]) => p.startsWith(CONSTANTS[name]!)), `${name} = ${CONSTANTS[name]} has no row in docs/storage-format.md §2`);
  }
  assert.ok(!rows.some(([, p]) => p.startsWith('lock/')));
});
