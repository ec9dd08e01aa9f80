/**
 * @module azcloudhsm_mgmt_util driven from tests: a scratch install of its two
 * configuration files, a scripted session through stdin, and a listing of a
 * SQLite store to prove that a refused command changed nothing. Used by the
 * backup and restore tests (packages/ops/test).
 */
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SqliteStore } from '../../store/src/sqlite.js';

const here = dirname(fileURLToPath(import.meta.url));
export const MGMT_UTIL = resolve(here, '..', '..', 'cli', 'src', 'azcloudhsm_mgmt_util.js');

/** Run azcloudhsm_mgmt_util on `cfg` with `lines` as its input; resolves with stdout and stderr together. */
export function mgmtUtil(cfg: string, lines: readonly string[], timeoutMs = 90_000): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const p = spawn(process.execPath, [MGMT_UTIL, cfg], { cwd: dirname(cfg), stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => {
      p.kill('SIGKILL');
      reject(new Error(`azcloudhsm_mgmt_util did not finish:\n${out}`));
    }, timeoutMs);
    p.once('close', () => {
      clearTimeout(timer);
      resolvePromise(out);
    });
    p.stdin.end(lines.map((l) => l + '\n').join(''));
  });
}

/** bin/azcloudhsm_resource.cfg and bin/azcloudhsm_mgmt_util.cfg under `root`, for the node on `port`, with PO.crt in `certDir`. */
export function mgmtInstall(root: string, port: number, certDir: string): string {
  mkdirSync(join(root, 'bin'), { recursive: true });
  writeFileSync(join(root, 'bin', 'azcloudhsm_resource.cfg'), JSON.stringify({ servers: [{ hostname: '127.0.0.1', port }] }));
  writeFileSync(join(root, 'bin', 'azcloudhsm_mgmt_util.cfg'), JSON.stringify({ cert_dir: certDir }));
  return join(root, 'bin', 'azcloudhsm_resource.cfg');
}

/** Every store key with its version, apart from the audit chain and heartbeats (they move by themselves), and the number of audit records. */
export async function storeListing(db: string): Promise<{ state: string; audits: number }> {
  const s = SqliteStore.open(db);
  try {
    const all = await s.list('');
    const moving = (k: string) => k.startsWith('audit/') || k === 'sys/audit/head' || k.startsWith('sys/probe/');
    /* Every sign-in writes its user record twice (the attempt is reserved in the store before the
       password is checked, then cleared), so a user record is listed by key, not by version. */
    const entry = (e: { key: string; version: number }) => (e.key.startsWith('user/') ? e.key : `${e.key}@${e.version}`);
    return { state: all.filter((e) => !moving(e.key)).map(entry).join('\n'), audits: all.filter((e) => e.key.startsWith('audit/')).length };
  } finally {
    await s.close();
  }
}
