/**
 * The facts C shares with the TypeScript tree reach it through the generated header
 * (native/common/gen/gen_shared.mjs → dist/native/gen/ochsm_shared_gen.h and
 * ochsm_reconnect.inc), and no C source writes them again: the version is package.json's, the
 * PKCS#11 module's reconnect waits are retryDelay's bounds for MODULE_RECONNECT
 * (packages/protocol/src/retry.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MODULE_RECONNECT, retryDelay } from '../../../packages/protocol/src/retry.js';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');
const GEN = join(REPO, 'dist', 'native', 'gen');
const read = (f: string) => readFileSync(join(GEN, f), 'utf8');
const define = (text: string, name: string) => new RegExp(`^#define ${name} (.+)$`, 'm').exec(text)?.[1];

test('the generated header carries package.json\'s version', () => {
  const { version } = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string };
  const h = read('ochsm_shared_gen.h');
  assert.equal(define(h, 'OCHSM_VERSION'), JSON.stringify(version));
  assert.equal(define(h, 'OCHSM_VERSION_MAJOR'), String(Number(version.split('.')[0])));
  assert.equal(define(h, 'OCHSM_VERSION_MINOR'), String(Number(version.split('.')[1])));
});

test('the module\'s reconnect policy and waits are MODULE_RECONNECT\'s', () => {
  const h = read('ochsm_shared_gen.h');
  assert.equal(define(h, 'OCHSM_RECONNECT_ATTEMPTS'), String(MODULE_RECONNECT.attempts));
  assert.equal(define(h, 'OCHSM_RECONNECT_DEADLINE_MS'), String(MODULE_RECONNECT.deadlineMs));
  const inc = read('ochsm_reconnect.inc');
  const table = (name: string) => /\{([^}]*)\}/.exec(inc.slice(inc.indexOf(name)))![1]!.split(',').map((x) => Number(x.trim()));
  const retries = MODULE_RECONNECT.attempts - 1;
  assert.deepEqual(table('ochsm_reconnect_wait_lo_ms'), Array.from({ length: retries }, (_, i) => retryDelay(MODULE_RECONNECT, i + 1, () => 0)));
  assert.deepEqual(table('ochsm_reconnect_wait_hi_ms'), Array.from({ length: retries }, (_, i) => retryDelay(MODULE_RECONNECT, i + 1, () => 1)));
});

test('no C source under native/ writes a version number or a reconnect constant of its own', () => {
  const files: string[] = [];
  const walk = (d: string) => {
    for (const n of readdirSync(d)) {
      const p = join(d, n);
      if (statSync(p).isDirectory()) walk(p);
      else if (/\.(c|h)$/.test(n) && !/\/pkcs11\/include\//.test(p)) files.push(p);
    }
  };
  walk(join(REPO, 'native'));
  assert.ok(files.length > 20, `read ${files.length} C files`);
  const found = files.flatMap((f) => readFileSync(f, 'utf8').split('\n').map((l, i) => [f, i + 1, l] as const))
    .filter(([, , l]) => /VERSION\w*\s+"\d+\.\d+|\/\d+\.\d+\.\d+"|RECONNECT_WAIT_MS|delay_ms \*= 2/.test(l))
    .map(([f, n, l]) => `${f.slice(REPO.length + 1)}:${n}: ${l.trim()}`);
  assert.deepEqual(found, []);
});
