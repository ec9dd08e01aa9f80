/**
 * @module The one software version of every executable and server, read once
 * from the nearest `package.json` named `opencloudhsm` above this file. That
 * works in the build tree (`dist/packages/ops/src` → the repository root) and
 * in the installed tree (`$PREFIX/lib/opencloudhsm/packages/ops/src` → the
 * `package.json` that `make install` copies beside `packages/`).
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 8; i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: unknown; version?: unknown };
      if (pkg.name === 'opencloudhsm' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      /* not here: look one level up */
    }
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return '0.0.0';
}

export const VERSION = findVersion();
