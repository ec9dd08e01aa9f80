/**
 * The set-up the in-process PKCS#11 tests share: a real three-node cluster
 * with the given users (packages/testkit/src/cluster.ts), a real daemon in
 * front of it, and libazcloudhsm_pkcs11.so loaded and initialised in this
 * process through pkcs11js, finding the daemon through
 * AZCLOUDHSM_APPLICATION_CFG (restored afterwards). Call it at the top of a
 * test file: it registers the before/after hooks (`initialize: false` leaves
 * C_Initialize to the tests; C_Finalize at the end tolerates either); `ready` runs at the end of
 * its before (a file's own before hook may run before the world is up).
 */
import { before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import pkcs11js from 'pkcs11js';
import { startCluster, startDaemon, type DaemonHandle, type LocalCluster } from '../../../packages/testkit/src/cluster.js';
import type { ProfileName } from '../../../packages/protocol/src/profiles.js';

/* dist/native/pkcs11/test → the repository */
export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');
export const MODULE = join(REPO, 'dist', 'lib64', 'libazcloudhsm_pkcs11.so');

export interface P11World {
  readonly dir: string;
  readonly lc: LocalCluster;
  readonly daemon: DaemonHandle;
  readonly p11: pkcs11js.PKCS11;
  /** Point the module's next C_Initialize at another daemon (restored after the file). */
  useDaemon(d: DaemonHandle): void;
}

export function p11World(name: string, opts: { users: { user: string; password: string; role: 'CU' }[]; sessionMode?: 'HOST' | 'APPLICATION'; initialize?: boolean; ready?: (p11: pkcs11js.PKCS11) => void; profile?: ProfileName }): P11World {
  let dir = '';
  let lc: LocalCluster | undefined;
  let daemon: DaemonHandle | undefined;
  let p11: pkcs11js.PKCS11 | undefined;
  const savedCfg = process.env.AZCLOUDHSM_APPLICATION_CFG;
  const useDaemon = (d: DaemonHandle) => {
    process.env.AZCLOUDHSM_APPLICATION_CFG = join(d.binDir, 'azcloudhsm_application.cfg');
  };

  before(async () => {
    assert.ok(existsSync(MODULE), `${MODULE} is missing: run make build`);
    dir = mkdtempSync(join(tmpdir(), `ochsm-p11-${name}-`));
    lc = await startCluster(join(dir, 'cluster'), { users: opts.users, ...(opts.profile ? { profile: opts.profile } : {}) });
    daemon = await startDaemon(lc, { sessionMode: opts.sessionMode ?? 'APPLICATION' });
    useDaemon(daemon);
    p11 = new pkcs11js.PKCS11();
    p11.load(MODULE);
    if (opts.initialize !== false) p11.C_Initialize();
    opts.ready?.(p11);
  });

  after(async () => {
    try {
      p11?.C_Finalize();
    } catch {
      /* already gone */
    }
    await daemon?.stop().catch(() => undefined);
    await lc?.stop().catch(() => undefined);
    if (savedCfg === undefined) delete process.env.AZCLOUDHSM_APPLICATION_CFG;
    else process.env.AZCLOUDHSM_APPLICATION_CFG = savedCfg;
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const need = <T>(v: T | undefined, what: string): T => {
    if (v === undefined) throw new Error(`p11World: ${what} is not ready (used outside a test?)`);
    return v;
  };
  return {
    get dir() {
      return dir;
    },
    get lc() {
      return need(lc, 'the cluster');
    },
    get daemon() {
      return need(daemon, 'the daemon');
    },
    get p11() {
      return need(p11, 'the module');
    },
    useDaemon,
  };
}

/** The state cProgramWorld shares with its test file; `daemon` may be replaced (a restart), and the one there at the end is stopped. */
export interface CProgramWorld {
  dir: string;
  prog: string;
  lc: LocalCluster | undefined;
  daemon: DaemonHandle | undefined;
}

/**
 * The set-up of the tests that drive the module from a C program of their own: native/pkcs11/test/<name>.c
 * compiled with warnings as errors against the PKCS#11 headers (linked with `libs` beside -ldl), a real
 * three-node cluster with the CU cu1 (password user1234) and a real daemon in HOST mode. The program is
 * started by the test, in the daemon's folder, where the module finds azcloudhsm_application.cfg.
 */
export function cProgramWorld(name: string, libs: readonly string[] = []): CProgramWorld {
  const w: CProgramWorld = { dir: '', prog: '', lc: undefined, daemon: undefined };
  before(async () => {
    assert.ok(existsSync(MODULE), `${MODULE} is missing: run make build`);
    w.dir = mkdtempSync(join(tmpdir(), `ochsm-p11-${name}-`));
    mkdirSync(join(w.dir, 'programs'));
    w.prog = join(w.dir, 'programs', name);
    const cc = spawnSync('gcc', ['-O2', '-Wall', '-Wextra', '-Werror', '-I', join(REPO, 'dist', 'pkcs11_headers', 'include'), '-o', w.prog,
      join(REPO, 'native', 'pkcs11', 'test', `${name}.c`), '-ldl', ...libs], { encoding: 'utf8' });
    assert.equal(cc.status, 0, `gcc ${name}.c: ${cc.stderr}`);
    w.lc = await startCluster(join(w.dir, 'cluster'), { users: [{ user: 'cu1', password: 'user1234', role: 'CU' }] });
    w.daemon = await startDaemon(w.lc);
  });
  after(async () => {
    await w.daemon?.stop().catch(() => undefined);
    await w.lc?.stop().catch(() => undefined);
    if (w.dir) rmSync(w.dir, { recursive: true, force: true });
  });
  return w;
}
