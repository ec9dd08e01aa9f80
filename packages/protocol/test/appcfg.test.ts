/**
 * The one TypeScript parser of azcloudhsm_application.cfg against the shared vectors
 * (test-vectors/cfg/application.json), which the C parser (native/common test_appcfg) and the
 * Java one (java/test UnitTests) pass too.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { ApplicationConfigError, parseApplicationConfigText } from '../src/appcfg.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');
interface Vector { name: string; text: string; expect?: Record<string, unknown>; error?: string }
const file = JSON.parse(readFileSync(path.join(root, 'test-vectors/cfg/application.json'), 'utf8')) as { path: string; vectors: Vector[] };

test('the vectors cover good files and every kind of error', () => {
  assert.ok(file.vectors.filter((v) => v.expect).length >= 8);
  assert.ok(file.vectors.filter((v) => v.error).length >= 12);
});

for (const v of file.vectors) {
  test(`vector: ${v.name}`, () => {
    if (v.expect) {
      const c = parseApplicationConfigText(v.text, file.path);
      assert.deepEqual({ ...c, userKekHandle: c.userKekHandle ?? null }, v.expect);
    } else {
      assert.throws(() => parseApplicationConfigText(v.text, file.path), (e: unknown) => e instanceof ApplicationConfigError && e.message === v.error && e.file === file.path);
    }
  });
}

test('an unknown key is reported to warn, not refused', () => {
  const w: string[] = [];
  parseApplicationConfigText('FOO=1\n', file.path, (x) => w.push(x));
  assert.equal(w.length, 1);
  assert.match(w[0]!, /:1: unknown key "FOO" \(ignored\)/);
});
