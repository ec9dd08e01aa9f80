/** packages/ops is imported by the node, the daemon and the CLIs; it imports none of them, nor the core or the store (packages/ops/README.md). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '..', '..', '..', '..');
const src = join(repo, 'packages', 'ops', 'src');

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => (statSync(join(dir, n)).isDirectory() ? walk(join(dir, n)) : n.endsWith('.ts') ? [join(dir, n)] : []));
}

test('packages/ops/src imports only itself, protocol, prom-client and node: built-ins', () => {
  const bad: string[] = [];
  const files = walk(src);
  assert.ok(files.length >= 5, `sources found in ${src}`);
  for (const f of files) {
    readFileSync(f, 'utf8').split('\n').forEach((line, i) => {
      const m = /^\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|^\s*import\s+['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)/.exec(line);
      if (!m) return;
      const spec = m[1] ?? m[2] ?? m[3] ?? '';
      if (spec.startsWith('node:') || spec === 'prom-client') return;
      if (spec.startsWith('.')) {
        const target = resolve(dirname(f), spec);
        if (target.startsWith(src) || target.startsWith(join(repo, 'packages', 'protocol', 'src'))) return;
      }
      bad.push(`${relative(repo, f)}:${i + 1} ${spec}`);
    });
  }
  assert.deepEqual(bad, []);
});
