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
 * (BARRIER_OPENERS) open a Barrier of their own. The CLIs are the top layer:
 * no file outside packages/cli imports them, tests, benchmarks and tools
 * included (checkNoCliImports). The C components include only what their
 * READMEs allow (NATIVE_RULES: libc and pthreads, libcrypto where stated,
 * native/common), the JCE provider only the JDK (checkJava).
 * `node dist/tools/check-imports.js` prints every violation
 * and exits 1 when there is one. Run by
 * the test suite (tools/check_imports.test.ts plants a violation of every
 * rule; packages/hsm-core/test/architecture.test.ts checks the core), like
 * jose's bundle checks.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

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

/** One import of a file: its specifier, and whether it is `import type` / `export type`. */
interface ImportAt {
  readonly spec: string;
  readonly typeOnly: boolean;
}

/** `import … from '…'` and `export … from '…'`, also when the name list spans several lines. */
const STATIC_IMPORT = /^[ \t]*(import|export)\s+(type\s+)?((?:[\w$*]+(?:\s+as\s+[\w$]+)?\s*,?\s*)?(?:\{[^{}'";]*\})?\s*)from\s*['"]([^'"]+)['"]/gm;
const BARE_IMPORT = /^[ \t]*import\s*['"]([^'"]+)['"]/gm;
const DYNAMIC_IMPORT = /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g;

/** Every import of `source`, by the (0-based) line its statement starts on. */
export function importsByLine(source: string): Map<number, ImportAt[]> {
  const out = new Map<number, ImportAt[]>();
  const lineOf = (index: number) => source.slice(0, index).split('\n').length - 1;
  const add = (index: number, spec: string, typeOnly: boolean) => {
    const line = lineOf(index);
    const trimmed = source.split('\n')[line]!.trim();
    if (trimmed.startsWith('//') || trimmed.startsWith('*') || trimmed.startsWith('/*')) return;
    out.set(line, [...(out.get(line) ?? []), { spec, typeOnly }]);
  };
  for (const m of source.matchAll(STATIC_IMPORT)) add(m.index!, m[4]!, m[2] !== undefined);
  for (const m of source.matchAll(BARE_IMPORT)) add(m.index!, m[1]!, false);
  for (const m of source.matchAll(DYNAMIC_IMPORT)) add(m.index!, m[1]!, false);
  return out;
}

export function checkImports(root: string): Violation[] {
  const out: Violation[] = [];
  const coreDir = join(root, 'packages', 'hsm-core', 'src');
  for (const file of walk(coreDir)) {
    const rel = relative(root, file).split(sep).join('/');
    const isCryptoDoor = rel === 'packages/hsm-core/src/crypto/node.ts';
    const source = readFileSync(file, 'utf8');
    const imports = importsByLine(source);
    source.split('\n').forEach((text, i) => {
      const trimmed = text.trim();
      if (!trimmed.startsWith('//') && !trimmed.startsWith('*') && CORE_FORBIDDEN_GLOBALS.test(text.replace(/'[^']*'|"[^"]*"|`[^`]*`/g, "''"))) {
        out.push({ file: rel, line: i + 1, spec: trimmed, rule: 'the HSM core does no I/O and uses no timers or wall clock (inject them)' });
      }
      for (const { spec, typeOnly } of imports.get(i) ?? []) {
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
      } else if (!spec.startsWith('node:') && spec !== 'crypto' && !/^@noble\/curves(\/|$)/.test(spec)) {
        out.push({ file: rel, line: i + 1, spec, rule: 'the HSM core takes no npm dependencies except @noble/curves (pure arithmetic, packages/hsm-core/README.md)' });
      }
      }
    });
  }
  for (const rule of PACKAGE_RULES) out.push(...checkPackage(root, rule));
  out.push(...checkNoCliImports(root));
  out.push(...checkNative(root));
  out.push(...checkJava(root));
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
  /** Other packages of this repository its sources may import: a name (any file of theirs) or one file (`protocol/src/errors.ts`). */
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
  { pkg: 'store', packages: ['protocol/src/errors.ts'], npm: ['better-sqlite3', 'etcd3'], node: 'all', says: 'the store imports only itself, protocol\'s errors, better-sqlite3, etcd3 and Node built-ins; never the core (packages/store/README.md)' },
  { pkg: 'sdk', packages: ['protocol'], npm: [], node: 'all', says: 'the SDK imports only itself, protocol, and node: built-ins (packages/sdk/README.md)' },
  { pkg: 'ops', packages: ['protocol'], npm: ['prom-client'], node: 'all', says: 'ops imports only itself, protocol, prom-client and Node built-ins (packages/ops/README.md)' },
  { pkg: 'daemon', packages: ['protocol', 'ops'], npm: [], node: 'all', says: 'the daemon imports only itself, protocol, ops and Node built-ins; never the core (packages/daemon/README.md)' },
  { pkg: 'hsm-node', packages: ['hsm-core', 'store', 'protocol', 'ops'], npm: [], node: 'all', says: 'the node imports only itself, hsm-core, store, protocol, ops and Node built-ins (packages/hsm-node/README.md)' },
  { pkg: 'testkit', packages: ['protocol', 'store', 'hsm-core', 'hsm-node', 'daemon', 'ops'], npm: [], node: 'all', says: 'the test kit depends on nothing above the node and the daemon (packages/testkit/README.md)' },
  { pkg: 'cli', packages: ['protocol', 'hsm-node', 'daemon', 'ops', 'sdk', 'testkit'], npm: [], node: 'all', says: 'the CLIs import protocol, hsm-node, daemon, ops, sdk, testkit and Node built-ins, no npm package, never hsm-core but through hsm-node (packages/cli/README.md)' },
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
    const source = readFileSync(file, 'utf8');
    const imports = importsByLine(source);
    source.split('\n').forEach((text, i) => {
      const here = imports.get(i) ?? [];
      const trimmed = text.trim();
      if (here.length === 0 && !trimmed.startsWith('//') && !trimmed.startsWith('*') && !trimmed.startsWith('/*') && BARRIER_REACH.test(text.replace(/'[^']*'|"[^"]*"|`[^`]*`/g, "''"))) {
        out.push({ file: rel, line: i + 1, spec: trimmed, rule: BARRIER_RULE });
      }
      for (const { spec } of here) {
        const why = packageViolation(rule, file, rel, spec, pkgsDir, deps);
        if (why !== undefined) out.push({ file: rel, line: i + 1, spec, rule: why });
      }
    });
  }
  return out;
}

/** Why `spec`, imported by `file` of `rule.pkg`, breaks the rule; undefined when it does not. */
function packageViolation(rule: PackageRule, file: string, rel: string, spec: string, pkgsDir: string, deps: Set<string>): string | undefined {
  if (spec.startsWith('.')) {
    const target = join(file, '..', spec).split(sep).join('/');
    if (!target.startsWith(pkgsDir)) return `${rule.says}: ${spec} leaves packages/`;
    const inside = target.slice(pkgsDir.length);
    const pkg = inside.split('/')[0]!;
    if (pkg === rule.pkg || rule.packages.includes(pkg) || rule.packages.includes(inside.replace(/\.js$/, '.ts'))) {
      return target.endsWith(BARRIER_MODULE) && !BARRIER_OPENERS.includes(rel) ? BARRIER_RULE : undefined;
    }
    return rule.says;
  }
  if (spec.startsWith('node:') || !/^[@a-z]/.test(spec) || (!spec.includes('/') && NODE_BUILTINS.has(spec))) {
    const name = spec.replace(/^node:/, '').split('/')[0]!;
    return rule.node === 'all' || rule.node.includes(name) ? undefined : rule.says;
  }
  const name = npmName(spec);
  if (!rule.npm.includes(name)) return rule.says;
  return deps.has(name) ? undefined : `${name} is not a dependency in package.json`;
}

/* ───────────────────────────── nothing imports the CLIs ───────────────────────────── */

export const CLI_RULE = 'the CLIs are the top layer: no file outside packages/cli imports packages/cli, tests, benchmarks and tools included (what several layers need lives in protocol or testkit)';
/** Folders never scanned: installed and built trees. */
const SKIP_DIRS = new Set(['node_modules', 'dist', '.git']);
const SCRIPT = /\.(ts|mts|cts|js|mjs|cjs)$/;
/** A dynamic import of a path put together from segments: `import(join(dist, 'packages', 'cli', 'src', …))`. */
const JOINED_CLI_IMPORT = /\bimport\(\s*[\w.]*\([^)]*['"]packages['"]\s*,\s*['"]cli['"]|\bimport\([^)]*packages\/cli\//;

function walkScripts(dir: string, skip: (p: string) => boolean): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (SKIP_DIRS.has(name) || skip(p)) continue;
    if (statSync(p).isDirectory()) out.push(...walkScripts(p, skip));
    else if (SCRIPT.test(name)) out.push(p);
  }
  return out;
}

/** Every script of the repository outside packages/cli (sources, tests, bench/, tools/, examples/): none imports packages/cli. */
export function checkNoCliImports(root: string): Violation[] {
  const out: Violation[] = [];
  const cliDir = join(root, 'packages', 'cli');
  const cliPrefix = cliDir.split(sep).join('/') + '/';
  for (const file of walkScripts(root, (p) => p === cliDir)) {
    const rel = relative(root, file).split(sep).join('/');
    const source = readFileSync(file, 'utf8');
    const imports = importsByLine(source);
    source.split('\n').forEach((text, i) => {
      for (const { spec } of imports.get(i) ?? []) {
        if (spec.startsWith('.') && (join(file, '..', spec).split(sep).join('/') + '/').startsWith(cliPrefix)) out.push({ file: rel, line: i + 1, spec, rule: CLI_RULE });
      }
      const trimmed = text.trim();
      if (!trimmed.startsWith('//') && !trimmed.startsWith('*') && !trimmed.startsWith('/*') && JOINED_CLI_IMPORT.test(text)) out.push({ file: rel, line: i + 1, spec: trimmed, rule: CLI_RULE });
    });
  }
  return out;
}

/* ───────────────────────────── the C components ───────────────────────────── */

/** One C component's include rule, as its README states it. */
export interface NativeRule {
  /** The folder under native/. */
  readonly dir: string;
  /** Other components whose public headers (their include/ folder) it may include. */
  readonly uses: readonly string[];
  /** Libraries beyond libc and pthreads: libcrypto (`<openssl/…>`), Node-API (`<node_api.h>`). */
  readonly libs: readonly ('openssl' | 'node-api')[];
  readonly says: string;
}

export const NATIVE_RULES: readonly NativeRule[] = [
  { dir: 'common', uses: [], libs: [], says: 'native/common includes only libc, pthreads and its own headers: no OpenSSL, no other library (native/common/README.md)' },
  { dir: 'pkcs11', uses: ['common'], libs: [], says: 'the PKCS#11 module includes only libc, pthreads, native/common and its own headers (native/pkcs11/README.md)' },
  { dir: 'openssl-common', uses: ['common'], libs: ['openssl'], says: 'the OpenSSL common code includes only libcrypto, libc, native/common and its own headers (native/openssl-common/README.md)' },
  { dir: 'openssl-engine', uses: ['common', 'openssl-common'], libs: ['openssl'], says: 'the OpenSSL engine includes only libcrypto, libc, native/common, native/openssl-common and its own headers (native/openssl-engine/README.md)' },
  { dir: 'openssl-provider', uses: ['common', 'openssl-common'], libs: ['openssl'], says: 'the OpenSSL provider includes only libcrypto, libc, native/common, native/openssl-common and its own headers (native/openssl-provider/README.md)' },
  { dir: 'crypto-addon', uses: [], libs: ['openssl', 'node-api'], says: 'the Node addon includes only Node-API, libcrypto and libc (native/README.md)' },
];

/** Headers native/common's generators write into dist/native/gen (native/common/gen/, the Makefile's NATIVE_GEN). */
export const GENERATED_HEADERS: readonly string[] = ['ochsm_schema_gen.h', 'ochsm_schema_tables.inc', 'ochsm_shared_gen.h', 'ochsm_reconnect.inc'];
/** The installed copy of a component's headers that samples include as an application would: prefix → component. */
const INSTALLED_HEADERS: Readonly<Record<string, string>> = { 'pkcs11_headers/': 'pkcs11' };

/** C11's headers and the POSIX ones a libc and pthreads give (sys/…, netinet/…, arpa/… included). */
const LIBC_HEADERS = new Set([
  'assert.h', 'complex.h', 'ctype.h', 'errno.h', 'fenv.h', 'float.h', 'inttypes.h', 'iso646.h', 'limits.h', 'locale.h', 'math.h', 'setjmp.h',
  'signal.h', 'stdalign.h', 'stdarg.h', 'stdatomic.h', 'stdbool.h', 'stddef.h', 'stdint.h', 'stdio.h', 'stdlib.h', 'stdnoreturn.h', 'string.h',
  'tgmath.h', 'threads.h', 'time.h', 'uchar.h', 'wchar.h', 'wctype.h',
  'dirent.h', 'dlfcn.h', 'fcntl.h', 'getopt.h', 'grp.h', 'netdb.h', 'poll.h', 'pthread.h', 'pwd.h', 'sched.h', 'semaphore.h', 'strings.h',
  'syslog.h', 'termios.h', 'unistd.h',
]);
const LIBC_DIRS = /^(sys|netinet|arpa)\//;
const INCLUDE = /^\s*#\s*include\s*([<"])([^>"]+)[>"]/;

function walkC(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...walkC(p));
    else if (/\.(c|h|inc)$/.test(name)) out.push(p);
  }
  return out;
}

/** Every #include of every C file under native/: libc, the libraries its rule names, its own headers and its components' include/. */
export function checkNative(root: string): Violation[] {
  const out: Violation[] = [];
  const nativeDir = join(root, 'native');
  if (!existsSync(nativeDir)) return out;
  const files = new Map<string, string[]>();
  for (const name of readdirSync(nativeDir)) {
    if (!statSync(join(nativeDir, name)).isDirectory()) continue;
    files.set(name, walkC(join(nativeDir, name)).map((f) => relative(root, f).split(sep).join('/')));
    if (!NATIVE_RULES.some((r) => r.dir === name)) out.push({ file: `native/${name}`, line: 0, spec: '', rule: 'every C component has an include rule in tools/check-imports.ts (NATIVE_RULES)' });
  }
  const owns = (dir: string, header: string) => (files.get(dir) ?? []).some((f) => f.endsWith('/' + header));
  const publishes = (dir: string, header: string) => (files.get(dir) ?? []).includes(`native/${dir}/include/${header}`);
  for (const rule of NATIVE_RULES) {
    for (const rel of files.get(rule.dir) ?? []) {
      readFileSync(join(root, rel), 'utf8').split('\n').forEach((text, i) => {
        const m = INCLUDE.exec(text);
        if (!m) return;
        const header = m[2]!;
        const bad = () => out.push({ file: rel, line: i + 1, spec: header, rule: rule.says });
        if (m[1] === '<') {
          if (LIBC_HEADERS.has(header) || LIBC_DIRS.test(header)) return;
          if (header.startsWith('openssl/') && rule.libs.includes('openssl')) return;
          if (header === 'node_api.h' && rule.libs.includes('node-api')) return;
          return bad();
        }
        if (owns(rule.dir, header)) return;
        if (GENERATED_HEADERS.includes(header) && (rule.dir === 'common' || rule.uses.includes('common'))) return;
        if (rule.uses.some((u) => publishes(u, header))) return;
        const installed = Object.keys(INSTALLED_HEADERS).find((p) => header.startsWith(p));
        if (installed !== undefined) {
          const dir = INSTALLED_HEADERS[installed]!;
          if ((dir === rule.dir || rule.uses.includes(dir)) && owns(dir, header.slice(installed.length))) return;
        }
        bad();
      });
    }
  }
  return out;
}

/* ───────────────────────────── the JCE provider ───────────────────────────── */

export const JAVA_RULE = 'the JCE provider, its samples and its tests import only the JDK (java.*, javax.*) and the provider itself (com.cavium.*, org.opencloudhsm.*): no dependencies beyond the JDK (docs/jce.md)';
const JAVA_IMPORT = /^\s*import\s+(static\s+)?([\w.]+(?:\.\*)?)\s*;/;
const JAVA_ALLOWED = /^(java|javax|com\.cavium|org\.opencloudhsm)\./;

function walkJava(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...walkJava(p));
    else if (name.endsWith('.java')) out.push(p);
  }
  return out;
}

/** Every import of every .java file under java/. */
export function checkJava(root: string): Violation[] {
  const out: Violation[] = [];
  const dir = join(root, 'java');
  if (!existsSync(dir)) return out;
  for (const file of walkJava(dir)) {
    const rel = relative(root, file).split(sep).join('/');
    readFileSync(file, 'utf8').split('\n').forEach((text, i) => {
      const m = JAVA_IMPORT.exec(text);
      if (m && !JAVA_ALLOWED.test(m[2]!)) out.push({ file: rel, line: i + 1, spec: m[2]!, rule: JAVA_RULE });
    });
  }
  return out;
}

const NODE_BUILTINS = new Set(['assert', 'buffer', 'child_process', 'crypto', 'dgram', 'dns', 'events', 'fs', 'http', 'https', 'net', 'os', 'path', 'process', 'readline', 'stream', 'string_decoder', 'timers', 'tls', 'url', 'util', 'vm', 'worker_threads', 'zlib']);

/* `node dist/tools/check-imports.js`: every violation of the tree this file was built in, exit 1 when there is one. */
if (process.argv[1] !== undefined && /check-imports\.js$/.test(process.argv[1])) {
  const root = join(fileURLToPath(import.meta.url), '..', '..', '..');
  const found = checkImports(root);
  for (const v of found) console.log(`${v.file}:${v.line} ${v.spec} — ${v.rule}`);
  console.log(found.length === 0 ? 'check-imports: no violation' : `check-imports: ${found.length} violation(s)`);
  process.exitCode = found.length === 0 ? 0 : 1;
}
