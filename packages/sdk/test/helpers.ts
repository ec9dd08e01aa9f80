/**
 * @module Test helpers: one real cluster (3 node processes, claimed, CU
 * cu1/user1234 and cu2/user5678) and one real daemon per test file, and
 * providers connected to it. Not a test file itself (make test runs *.test.js).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCluster, startDaemon, type DaemonHandle, type LocalCluster } from '../../testkit/src/cluster.js';
import { HsmClient } from '../src/client.js';
import { LoginManager, type LoginManagerOptions } from '../src/login_manager.js';
import { HsmCrypto } from '../src/webcrypto/crypto.js';

export const CU1 = { user: 'cu1', password: 'user1234' } as const;
export const CU2 = { user: 'cu2', password: 'user5678' } as const;

export interface SdkEnv {
  readonly dir: string;
  readonly cluster: LocalCluster;
  daemon: DaemonHandle;
  /** A LoginManager on this daemon (not the process singleton); closed by stop(). */
  manager(opts?: Partial<LoginManagerOptions>): LoginManager;
  /** A provider signed in explicitly as cu1, with its own manager. */
  signedIn(): Promise<{ lm: LoginManager; hc: HsmCrypto }>;
  restartDaemon(): Promise<void>;
  stop(): Promise<void>;
}

export async function startSdkEnv(opts: { sessionMode?: 'HOST' | 'APPLICATION' } = {}): Promise<SdkEnv> {
  const dir = mkdtempSync(join(tmpdir(), 'ochsm-sdk-'));
  let cluster: LocalCluster;
  try {
    cluster = await startCluster(dir, { users: [{ ...CU1, role: 'CU' }, { ...CU2, role: 'CU' }] });
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  let daemon: DaemonHandle;
  try {
    daemon = await startDaemon(cluster, opts.sessionMode ? { sessionMode: opts.sessionMode } : {});
  } catch (e) {
    await cluster.stop();
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  const managers: LoginManager[] = [];
  const providers: HsmCrypto[] = [];
  const env: SdkEnv = {
    dir,
    cluster,
    daemon,
    manager(o = {}) {
      const lm = new LoginManager({ socketPath: env.daemon.socketPath, credentialsEnv: {}, retry: { attempts: 10, backoffMs: 100, deadlineMs: 15_000 }, ...o });
      managers.push(lm);
      return lm;
    },
    async signedIn() {
      const lm = env.manager();
      await lm.login('PARTITION_1', CU1.user, CU1.password);
      const hc = new HsmCrypto({ loginManager: lm });
      providers.push(hc);
      return { lm, hc };
    },
    async restartDaemon() {
      await env.daemon.stop();
      env.daemon = await startDaemon(cluster, opts.sessionMode ? { sessionMode: opts.sessionMode } : {});
    },
    async stop() {
      for (const p of providers) p.close();
      for (const m of managers) m.close();
      await env.daemon.stop().catch(() => undefined);
      await cluster.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return env;
}

export const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

/**
 * HOST mode: wait until the daemon has signed the host out (it does so
 * when the last application holding the sign-in disconnects, asynchronously).
 */
export async function waitSignedOut(socketPath: string, timeoutMs = 5000): Promise<void> {
  const probe = new HsmClient({ socketPath, sessions: false });
  try {
    const deadline = Date.now() + timeoutMs;
    while ((await probe.request('loginStatus', {})).loggedIn) {
      if (Date.now() > deadline) throw new Error('the host stayed signed in');
      await new Promise((r) => setTimeout(r, 20));
    }
  } finally {
    probe.close();
  }
}
