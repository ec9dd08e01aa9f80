/** The daemon imports only `protocol`, `ops` (version, flags, metrics) and Node built-ins: it never holds key material (packages/daemon/README.md). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/* dist/packages/daemon/test → the sources in packages/daemon/src */
const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '..', '..', '..', '..');
const src = join(repo, 'packages', 'daemon', 'src');

test('packages/daemon/src imports only protocol, ops, itself and node: built-ins', () => {
  const bad: string[] = [];
  const files = readdirSync(src).filter((n) => n.endsWith('.ts'));
  assert.ok(files.includes('main.ts') && files.includes('nodes.ts'), `sources not found in ${src}`);
  for (const f of files) {
    readFileSync(join(src, f), 'utf8').split('\n').forEach((line, i) => {
      const m = /^\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|^\s*import\s+['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)/.exec(line);
      if (!m) return;
      const spec = m[1] ?? m[2] ?? m[3] ?? '';
      const ok = spec.startsWith('node:') || /^\.\/[a-z_]+\.js$/.test(spec) || /^\.\.\/\.\.\/protocol\/src\/[a-z_]+\.js$/.test(spec) || /^\.\.\/\.\.\/ops\/src\/(metrics\/)?[a-z_]+\.js$/.test(spec);
      if (!ok) bad.push(`${f}:${i + 1} ${spec}`);
    });
  }
  assert.deepEqual(bad, []);
});
