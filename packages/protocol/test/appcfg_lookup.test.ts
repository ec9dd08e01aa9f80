/**
 * The lookup of azcloudhsm_application.cfg against the shared vectors
 * (test-vectors/cfg/lookup.json), which the C lookup (native/common test_appcfg)
 * and the Java one (java/test UnitTests) pass too: the same path or the same
 * message, byte for byte.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { lookupApplicationConfig, type PathKind } from '../src/appcfg_lookup.js';

interface Vector {
  name: string;
  cwd?: string;
  exeDir?: string;
  env?: string;
  exist: Record<string, 'file' | 'dir'>;
  found?: string;
  error?: string;
}

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');
const file = JSON.parse(readFileSync(path.join(root, 'test-vectors/cfg/lookup.json'), 'utf8')) as { vectors: Vector[] };

test('lookup vectors: the first place where something exists, or the one message listing every place', () => {
  assert.ok(file.vectors.length >= 10);
  for (const v of file.vectors) {
    const asked: string[] = [];
    const kind = (p: string): PathKind => {
      asked.push(p);
      return v.exist[p] ?? 'missing';
    };
    const r = lookupApplicationConfig({ cwd: v.cwd, exeDir: v.exeDir, env: v.env }, kind);
    if (v.error !== undefined) {
      assert.equal(r.found, undefined, v.name);
      assert.equal('message' in r ? r.message : '', v.error, v.name);
    } else {
      assert.equal(r.found, v.found, v.name);
    }
  }
});

test('an error other than "missing" at a place is named with it, and the lookup goes on', () => {
  const r = lookupApplicationConfig({ cwd: '/app' }, (p) => (p === '/app/azcloudhsm_application.cfg' ? { error: 'Permission denied' } : 'missing'));
  assert.ok('message' in r && r.message.includes('/app/azcloudhsm_application.cfg (working directory: Permission denied); '), JSON.stringify(r));
  const found = lookupApplicationConfig({ cwd: '/app', exeDir: '/b' }, (p) => (p.startsWith('/app/') ? { error: 'Permission denied' } : p === '/b/azcloudhsm_application.cfg' ? 'file' : 'missing'));
  assert.equal(found.found, '/b/azcloudhsm_application.cfg');
});
