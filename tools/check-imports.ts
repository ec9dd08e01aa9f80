/**
 * @module Architecture guard: what each component may import.
 *
 * The HSM core must stay pure (no sockets, files, databases, processes,
 * timers), with node:crypto reached only through hsm-core/src/crypto/node.ts.
 * Every other package's sources follow the rule its README states, written
 * once below as data (PACKAGE_RULES): which packages it may import, which npm
 * packages (each must also be a dependency in package.json), which Node
 * built-ins. A package folder without a rule is itself a violation. The
 * barrier is the core's own (every write through it is an audited change of
 * the core): no other package reaches `Partition.barrier` or any `.barrier`,
 * and only the offline store verifier and a joining node's key check
 * (BARRIER_OPENERS) open a Barrier of their own. Run by
 * the test suite (tools/check_imports.test.ts plants a violation of every
 * rule; packages/hsm-core/test/architecture.test.ts checks the core), like
 * jose's bundle checks.
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
  for (const rule of PACKAGE_RULES) out.push(...checkPackage(root, rule));
  /* Every package has a rule: a new folder cannot slip past the check. */
  const pkgs = join(root, 'packages');
  if (existsSync(pkgs)) {
    for (const name of readdirSync(pkgs)) {
      if (!statSync(join(pkgs, name)).isDirectory() || name === 'hsm-core' || PACKAGE_RULES.some((r) => r.pkg === name)) continue;
      out.push({ file: `packages/${name}`, line: 0, spec: '', rule: 'every package has an import rule in tools/check-imports.ts (PACKAGE_RULES)' });
    }
  }
  return out;
}

/** One package's import rule, as its README states it. */
export interface PackageRule {
  readonly pkg: string;
  /** Other packages of this repository its sources may import (any file of theirs). */
  readonly packages: readonly string[];
  /** npm packages it may import (each must also be a dependency in package.json). */
  readonly npm: readonly string[];
  /** Node built-ins: all of them, or only these (without the node: prefix). */
  readonly node: 'all' | readonly string[];
  /** The rule in words, as the violation reports it. */
  readonly says: string;
}

export const PACKAGE_RULES: readonly PackageRule[] = [
  { pkg: 'protocol', packages: [], npm: [], node: ['stream', 'fs', 'path'], says: 'protocol imports only itself and node:stream, node:fs, node:path (packages/protocol/README.md)' },
  { pkg: 'store', packages: ['protocol'], npm: ['better-sqlite3', 'etcd3'], node: 'all', says: 'the store imports only itself, protocol, better-sqlite3, etcd3 and Node built-ins; never the core (packages/store/README.md)' },
  { pkg: 'sdk', packages: ['protocol'], npm: [], node: 'all', says: 'the SDK imports only itself, protocol, and node: built-ins (packages/sdk/README.md)' },
  { pkg: 'ops', packages: ['protocol'], npm: ['prom-client'], node: 'all', says: 'ops imports only itself, protocol, prom-client and Node built-ins (packages/ops/README.md)' },
  { pkg: 'daemon', packages: ['protocol', 'ops'], npm: [], node: 'all', says: 'the daemon imports only itself, protocol, ops and Node built-ins; never the core (packages/daemon/README.md)' },
  { pkg: 'hsm-node', packages: ['hsm-core', 'store', 'protocol', 'ops'], npm: [], node: 'all', says: 'the node imports only itself, hsm-core, store, protocol, ops and Node built-ins (packages/hsm-node/README.md)' },
  { pkg: 'testkit', packages: ['protocol', 'store', 'hsm-core', 'hsm-node', 'daemon', 'ops'], npm: [], node: 'all', says: 'the test kit depends on nothing above the node and the daemon (packages/testkit/README.md)' },
  { pkg: 'cli', packages: ['protocol', 'hsm-node', 'daemon', 'ops', 'sdk', 'testkit'], npm: ['@peculiar/x509', 'reflect-metadata'], node: 'all', says: 'the CLIs import protocol, hsm-node, daemon, ops, sdk, testkit and Node built-ins, never hsm-core but through hsm-node (packages/cli/README.md)' },
];

/**
 * Files outside hsm-core that may open a Barrier themselves, read only: the offline verifier reads a
 * copy of a store; a joining node checks that the masking key it was handed opens this store's
 * barrier before it writes sealing.key (docs/deployment.md §5).
 */
export const BARRIER_OPENERS: readonly string[] = ['packages/hsm-node/src/verify.ts', 'packages/hsm-node/src/join.ts'];
const BARRIER_MODULE = '/packages/hsm-core/src/barrier/barrier.js';
/** A member access `.barrier` (Partition.barrier, kernel.barrier …) in code, not in a comment. */
const BARRIER_REACH = /\.barrier\b/;
const BARRIER_RULE = 'the barrier is the core\'s own: outside hsm-core nothing reaches Partition.barrier or opens a Barrier (only the offline verifier and a joining node\'s key check, BARRIER_OPENERS)';

function dependencies(root: string): Set<string> {
  try {
    const j = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
    return new Set(Object.keys(j.dependencies ?? {}));
  } catch {
    return new Set();
  }
}

/** The npm package a bare specifier names: `@scope/name` or `name`. */
function npmName(spec: string): string {
  const parts = spec.split('/');
  return spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}

export function checkPackage(root: string, rule: PackageRule): Violation[] {
  const out: Violation[] = [];
  const dir = join(root, 'packages', rule.pkg, 'src');
  if (!existsSync(dir)) return out;
  const deps = dependencies(root);
  const pkgsDir = join(root, 'packages').split(sep).join('/') + '/';
  for (const file of walk(dir)) {
    const rel = relative(root, file).split(sep).join('/');
    readFileSync(file, 'utf8').split('\n').forEach((text, i) => {
      const m = IMPORT.exec(text);
      const trimmed = text.trim();
      if (!m && !trimmed.startsWith('//') && !trimmed.startsWith('*') && !trimmed.startsWith('/*') && BARRIER_REACH.test(text.replace(/'[^']*'|"[^"]*"|`[^`]*`/g, "''"))) {
        out.push({ file: rel, line: i + 1, spec: trimmed, rule: BARRIER_RULE });
      }
      if (!m) return;
      const spec = m[3] ?? m[4] ?? m[5] ?? '';
      const bad = (why: string) => out.push({ file: rel, line: i + 1, spec, rule: why });
      if (spec.startsWith('.')) {
        const target = join(file, '..', spec).split(sep).join('/');
        if (!target.startsWith(pkgsDir)) return bad(`${rule.says}: ${spec} leaves packages/`);
        const inside = target.slice(pkgsDir.length);
        const pkg = inside.split('/')[0]!;
        if (pkg === rule.pkg || rule.packages.includes(pkg)) {
          if (target.endsWith(BARRIER_MODULE) && !BARRIER_OPENERS.includes(rel)) return bad(BARRIER_RULE);
          return;
        }
        return bad(rule.says);
      }
      if (spec.startsWith('node:') || !/^[@a-z]/.test(spec) || (!spec.includes('/') && NODE_BUILTINS.has(spec))) {
        const name = spec.replace(/^node:/, '').split('/')[0]!;
        if (rule.node === 'all' || rule.node.includes(name)) return;
        return bad(rule.says);
      }
      const name = npmName(spec);
      if (!rule.npm.includes(name)) return bad(rule.says);
      if (!deps.has(name)) return bad(`${name} is not a dependency in package.json`);
    });
  }
  return out;
}

const NODE_BUILTINS = new Set(['assert', 'buffer', 'child_process', 'crypto', 'dgram', 'dns', 'events', 'fs', 'http', 'https', 'net', 'os', 'path', 'process', 'readline', 'stream', 'string_decoder', 'timers', 'tls', 'url', 'util', 'vm', 'worker_threads', 'zlib']);
