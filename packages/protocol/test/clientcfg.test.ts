/**
 * The one parser of azcloudhsm_client.cfg (src/clientcfg.ts) against the shared vectors
 * (test-vectors/cfg/client.json): good files to their values (and warnings), bad ones to the
 * exact error; and the defaults without a file.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { ClientConfigError, CLIENT_NUMBERS, defaultClientConfig, parseClientConfigText } from '../src/clientcfg.js';
import { DAEMON_RETRY } from '../src/retry.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');
interface Vector { name: string; text: string; expect?: Record<string, unknown>; warnings?: string[]; error?: string; errorStart?: string }
const file = JSON.parse(readFileSync(path.join(root, 'test-vectors/cfg/client.json'), 'utf8')) as { path: string; resourceDir: string; vectors: Vector[] };

test('the vectors cover good files, every key, and every kind of error', () => {
  assert.ok(file.vectors.filter((v) => v.expect).length >= 5);
  assert.ok(file.vectors.filter((v) => v.error || v.errorStart).length >= 12);
  const every = file.vectors.find((v) => v.name === 'every key')!;
  for (const spec of Object.values(CLIENT_NUMBERS)) assert.ok(every.text.includes(`"${spec.key}"`), spec.key);
});

for (const v of file.vectors) {
  test(`vector: ${v.name}`, () => {
    const warnings: string[] = [];
    if (v.expect) {
      assert.deepEqual(parseClientConfigText(v.text, file.path, file.resourceDir, (w) => warnings.push(w)), v.expect);
      assert.deepEqual(warnings, v.warnings ?? []);
    } else {
      assert.throws(() => parseClientConfigText(v.text, file.path, file.resourceDir), (e: unknown) =>
        e instanceof ClientConfigError && e.file === file.path && (v.error !== undefined ? e.message === v.error : e.message.startsWith(v.errorStart!)));
    }
  });
}

test('without a file: the defaults of the empty object, PO.crt beside bin in cert/, the daemon retry policy', () => {
  const d = defaultClientConfig(file.resourceDir);
  assert.deepEqual(d, file.vectors[0]!.expect);
  assert.deepEqual(d.retry, DAEMON_RETRY);
});
