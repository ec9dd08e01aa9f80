/** @module The software version, read once from the repository's package.json. */
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
/** What the daemon says in `hello`, on both legs. */
export const DAEMON_SOFTWARE = `OpenCloudHSM/${VERSION} daemon`;
