/** The architecture guard over the real tree: the core stays pure. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { checkImports } from '../../../tools/check-imports.js';
import { vectorPath } from '../../../test-vectors/load.js';

const repoRoot = join(vectorPath(), '..');

test('hsm-core imports no I/O, no timers, and node:crypto only through its one door', () => {
  const v = checkImports(repoRoot);
  assert.deepEqual(v, [], v.map((x) => `${x.file}:${x.line} ${x.spec} — ${x.rule}`).join('\n'));
});

test('the guard catches what it is meant to catch', () => {
  const root = mkdtempSync(join(tmpdir(), 'ochsm-arch-'));
  try {
    const core = join(root, 'packages', 'hsm-core', 'src');
    mkdirSync(join(core, 'crypto'), { recursive: true });
    mkdirSync(join(root, 'packages', 'store', 'src'), { recursive: true });
    writeFileSync(join(core, 'bad.ts'), [
      "import { readFileSync } from 'node:fs';",
      "import { createHash } from 'node:crypto';",
      "import Database from 'better-sqlite3';",
      "import { SqliteStore } from '../../store/src/sqlite.js';",
      'setTimeout(() => 0, 1);',
      'const t = Date.now();',
    ].join('\n'));
    writeFileSync(join(core, 'crypto', 'node.ts'), "export { createHash } from 'node:crypto';\n");
    writeFileSync(join(root, 'packages', 'store', 'src', 'x.ts'), "import { Barrier } from '../../hsm-core/src/barrier/barrier.js';\n");
    const v = checkImports(root);
    assert.deepEqual(v.map((x) => `${x.file}:${x.line}`), [
      'packages/hsm-core/src/bad.ts:1',
      'packages/hsm-core/src/bad.ts:2',
      'packages/hsm-core/src/bad.ts:3',
      'packages/hsm-core/src/bad.ts:3',
      'packages/hsm-core/src/bad.ts:4',
      'packages/hsm-core/src/bad.ts:5',
      'packages/hsm-core/src/bad.ts:6',
      'packages/store/src/x.ts:1',
    ]);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
