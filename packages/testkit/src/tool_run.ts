/**
 * @module Running a real tool (openssl, azcloudhsm_util, curl …) from a test,
 * and following the audit log while it works: what the OpenSSL engine and
 * provider tests share.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ProtocolClient } from '../../protocol/src/connection.js';

export const RUN_TIMEOUT_MS = 60_000;

export interface Run {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export const show = (r: Run) => `exit ${r.code}${r.signal ? ` (${r.signal})` : ''}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`;

/**
 * Run `cmd` to its end (killed after `timeoutMs`, default 60 s), with `input` on stdin; stdout as latin1
 * (it may be binary) unless `encoding` says otherwise. The one process runner of the tool tests.
 */
export function run(cmd: string, args: readonly string[], opts: { cwd: string; env: NodeJS.ProcessEnv; input?: string; timeoutMs?: number; encoding?: BufferEncoding }): Promise<Run> {
  return new Promise((resolvePromise, reject) => {
    const p = spawn(cmd, args, { cwd: opts.cwd, env: opts.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString(opts.encoding ?? 'latin1')));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const limit = opts.timeoutMs ?? RUN_TIMEOUT_MS;
    const timer = setTimeout(() => {
      p.kill('SIGKILL');
      reject(new Error(`${cmd} ${args.join(' ')} did not finish within ${limit} ms\nstdout:\n${stdout}\nstderr:\n${stderr}`));
    }, limit);
    p.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    p.once('close', (code, signal) => {
      clearTimeout(timer);
      resolvePromise({ code, signal, stdout, stderr });
    });
    p.stdin.on('error', () => undefined); /* a command that exits before reading its input (EPIPE) */
    p.stdin.end(opts.input ?? '');
  });
}

/** A success: exit 0 and no signal (no crash). */
export function ok(r: Run, what: string): Run {
  assert.equal(r.signal, null, `${what} crashed\n${show(r)}`);
  assert.equal(r.code, 0, `${what}\n${show(r)}`);
  return r;
}

/** A failure, cleanly: a non-zero exit, no signal (no crash), and the message on stderr. */
export function failed(r: Run, what: string, message: string | RegExp): void {
  assert.equal(r.signal, null, `${what} crashed\n${show(r)}`);
  assert.notEqual(r.code, 0, `${what} should fail\n${show(r)}`);
  if (typeof message === 'string') assert.ok(r.stderr.includes(message), `${what}: expected "${message}" in\n${show(r)}`);
  else assert.match(r.stderr, message, `${what}\n${show(r)}`);
}

/** An audit record as the tests look at it. */
export interface Audited {
  readonly action: string;
  readonly handles?: readonly number[] | undefined;
  readonly result: string;
  readonly user: string;
}

/**
 * The records appended since the previous call, in the store's chain (state
 * changes, read through `store()`) and each node's key-use log (key use is
 * recorded by the node that served it, read through `nodes()`, node i+1 at i).
 */
export class AuditFollower {
  #seq = new Map<string, number>();
  constructor(private readonly store: () => ProtocolClient, private readonly nodes: () => readonly ProtocolClient[]) {}

  async next(): Promise<Audited[]> {
    const out: Audited[] = [];
    await this.#drain(this.store(), 'store', 'store', out);
    for (const [i, c] of this.nodes().entries()) await this.#drain(c, 'node', `node${i + 1}`, out);
    return out;
  }

  async #drain(c: ProtocolClient, chain: 'store' | 'node', name: string, out: Audited[]): Promise<void> {
    for (;;) {
      const from = (this.#seq.get(name) ?? 0) + 1;
      const { records } = await c.request('auditRecords', { fromSeq: from, limit: 1000, chain });
      for (const r of records) {
        out.push(r);
        this.#seq.set(name, Math.max(this.#seq.get(name) ?? 0, r.seq));
      }
      if (records.length < 1000) return;
    }
  }
}

/** Successful uses of `handle` by `action` among `records`. */
export function uses(records: readonly Audited[], action: string, handle: number): number {
  return records.filter((r) => r.action === action && r.result === 'ok' && (r.handles ?? []).includes(handle)).length;
}

/**
 * The environment of an OpenSSL engine or provider run (the Azure Cloud HSM authentication
 * guide, OpenSSL section): `set` on top of this process's environment, without any
 * AZCLOUDHSM_APPLICATION_CFG or OPENSSL_CONF inherited from it, then `extra` (undefined removes).
 */
export function toolEnv(set: Record<string, string>, remove: readonly string[], extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = { ...process.env, ...set };
  for (const k of ['AZCLOUDHSM_APPLICATION_CFG', 'OPENSSL_CONF', ...remove]) delete e[k];
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete e[k];
    else e[k] = v;
  }
  return e;
}

/** `azcloudhsm_util singlecmd loginHSM -u CU …` (the built CLI at `utilPath`) and its findKey count. */
export function utilTool(utilPath: string, cwd: () => string, env: () => NodeJS.ProcessEnv) {
  const util = (args: readonly string[], user = ['-s', 'cu1', '-p', 'user1234']) =>
    run(process.execPath, [utilPath, 'singlecmd', 'loginHSM', '-u', 'CU', ...user, ...args], { cwd: cwd(), env: env() });
  async function totalKeys(): Promise<number> {
    const r = ok(await util(['findKey']), 'findKey');
    const m = /Total number of keys present: (\d+)/.exec(r.stdout);
    assert.ok(m, r.stdout);
    return Number(m[1]);
  }
  return { util, totalKeys };
}
