/**
 * `ochsm init [--profile azure|standard] <dir>`: the real command creates the sealing key and an
 * unclaimed partition of the profile asked for (azure when none is), says which, and refuses an
 * unknown profile; the partition opened afterwards has that profile.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openLocalPartition } from '../../hsm-node/src/local_partition.js';

const OCHSM = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'ochsm.js');
const base = mkdtempSync(join(tmpdir(), 'ochsm-init-'));
after(() => rmSync(base, { recursive: true, force: true }));

function ochsm(...args: string[]): { status: number | null; out: string } {
  const r = spawnSync(process.execPath, [OCHSM, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, out: r.stdout + r.stderr };
}

async function profileOf(dir: string): Promise<string> {
  const { partition, store } = await openLocalPartition(dir);
  try {
    return await partition.profile();
  } finally {
    partition.close();
    await store.close();
  }
}

test('ochsm init --profile standard makes a standard partition; without --profile it is azure; a bad name is refused', async () => {
  const std = join(base, 'standard');
  const r = ochsm('init', '--profile', 'standard', std);
  assert.equal(r.status, 0, r.out);
  assert.match(r.out, /an unclaimed partition, profile standard/);
  assert.equal(await profileOf(std), 'standard');
  assert.match(ochsm('init', std).out, /exists: nothing to do/);
  assert.equal(await profileOf(std), 'standard');

  const az = join(base, 'azure');
  const d = ochsm('init', az);
  assert.equal(d.status, 0, d.out);
  assert.match(d.out, /profile azure/);
  assert.equal(await profileOf(az), 'azure');

  const bad = ochsm('init', '--profile', 'pkcs11', join(base, 'bad'));
  assert.equal(bad.status, 2, bad.out);
  assert.match(bad.out, /--profile is one of azure, standard \(got "pkcs11"\)/);
  assert.equal(existsSync(join(base, 'bad', 'sealing.key')), false);
  const none = ochsm('init', '--profile');
  assert.equal(none.status, 2, none.out);
  assert.match(none.out, /got nothing/);
});
