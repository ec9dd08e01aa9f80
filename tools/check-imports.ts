/**
 * @module Architecture guard: what each component may import.
 *
 * The HSM core must stay pure (no sockets, files, databases, processes,
 * timers), with node:crypto reached only through hsm-core/src/crypto/node.ts;
 * the store may not reach into the core; the SDK imports only protocol and
 * Node built-ins. Run by the test suite
 * (packages/hsm-core/test/architecture.test.ts), like jose's bundle checks.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';

export interface Violation {
  readonly file: string;
  readonly line: number;
  readonly spec: string;
  readonly rule: string;
}

/** Modules the pure core must never import (I/O, processes, timers, native addons). */
const CORE_FORBIDDEN = /^(node:)?(fs|fs\/promises|net|tls|http|https|http2|dgram|dns|child_process|cluster|worker_threads|timers|timers\/promises|os|process|readline|vm|inspector|better-sqlite3)$/;
/** Global I/O and timer functions the core must not call. */
const CORE_FORBIDDEN_GLOBALS = /\b(setTimeout|setInterval|setImmediate|fetch|require)\s*\(|\bprocess\.(env|argv|exit|stdout|stderr|hrtime|nextTick)\b|\bDate\.now\s*\(/;

function walk(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else if (p.endsWith('.ts')) out.push(p);
  }
  return out;
}

const IMPORT = /^\s*(import|export)\s+(type\s+)?[^'"]*?from\s+['"]([^'"]+)['"]|^\s*import\s+['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)/;

export function checkImports(root: string): Violation[] {
  const out: Violation[] = [];
  const coreDir = join(root, 'packages', 'hsm-core', 'src');
  for (const file of walk(coreDir)) {
    const rel = relative(root, file).split(sep).join('/');
    const isCryptoDoor = rel === 'packages/hsm-core/src/crypto/node.ts';
    readFileSync(file, 'utf8').split('\n').forEach((text, i) => {
      const m = IMPORT.exec(text);
      const trimmed = text.trim();
      if (!trimmed.startsWith('//') && !trimmed.startsWith('*') && CORE_FORBIDDEN_GLOBALS.test(text.replace(/'[^']*'|"[^"]*"|`[^`]*`/g, "''"))) {
        out.push({ file: rel, line: i + 1, spec: trimmed, rule: 'the HSM core does no I/O and uses no timers or wall clock (inject them)' });
      }
      if (!m) return;
      const typeOnly = m[2] !== undefined;
      const spec = m[3] ?? m[4] ?? m[5] ?? '';
      if (CORE_FORBIDDEN.test(spec)) out.push({ file: rel, line: i + 1, spec, rule: 'the HSM core does no I/O' });
      if ((spec === 'crypto' || spec === 'node:crypto') && !isCryptoDoor) out.push({ file: rel, line: i + 1, spec, rule: 'node:crypto only through hsm-core/src/crypto/node.ts' });
      if (spec.startsWith('.')) {
        const target = join(file, '..', spec).split(sep).join('/');
        const inCore = target.includes('/packages/hsm-core/');
        const inProtocol = target.includes('/packages/protocol/src/');
        const storeTypes = target.endsWith('/packages/store/src/types.js');
        if (!inCore && !inProtocol && !(storeTypes && typeOnly)) {
          out.push({ file: rel, line: i + 1, spec, rule: 'the HSM core imports only itself, protocol, and (as types) store/src/types' });
        }
      } else if (!spec.startsWith('node:') && spec !== 'crypto' && !/^@noble\//.test(spec)) {
        out.push({ file: rel, line: i + 1, spec, rule: 'the HSM core takes no npm dependencies except @noble (pure arithmetic)' });
      }
    });
  }
  const storeDir = join(root, 'packages', 'store', 'src');
  for (const file of walk(storeDir)) {
    const rel = relative(root, file).split(sep).join('/');
    readFileSync(file, 'utf8').split('\n').forEach((text, i) => {
      const m = IMPORT.exec(text);
      const spec = m ? (m[3] ?? m[4] ?? m[5] ?? '') : '';
      if (spec.includes('hsm-core')) out.push({ file: rel, line: i + 1, spec, rule: 'the store is untrusted and must not import the core' });
    });
  }
  /* The SDK (packages/sdk/README.md): protocol and Node built-ins only, never the core, the store or the servers. */
  const sdkDir = join(root, 'packages', 'sdk', 'src');
  if (existsSync(sdkDir)) {
    for (const file of walk(sdkDir)) {
      const rel = relative(root, file).split(sep).join('/');
      readFileSync(file, 'utf8').split('\n').forEach((text, i) => {
        const m = IMPORT.exec(text);
        if (!m) return;
        const spec = m[3] ?? m[4] ?? m[5] ?? '';
        const target = spec.startsWith('.') ? join(file, '..', spec).split(sep).join('/') : '';
        const ok = spec.startsWith('.') ? target.includes('/packages/sdk/src/') || target.includes('/packages/protocol/src/') : spec.startsWith('node:');
        if (!ok) out.push({ file: rel, line: i + 1, spec, rule: 'the SDK imports only itself, protocol, and node: built-ins' });
      });
    }
  }
  return out;
}
