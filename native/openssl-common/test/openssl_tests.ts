/**
 * What the OpenSSL engine's and provider's tests share beyond the test kit's installation
 * (packages/testkit/src/openssl_world.ts): the `openssl` runner in the working directory, the
 * handle a key-reference file names (the project's own reader, packages/protocol/src/keyref.ts),
 * and the audit records followed through a CO on every node.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { ProtocolClient } from '../../../packages/protocol/src/connection.js';
import { readPrivateKeyFile, referencedHandle } from '../../../packages/protocol/src/keyref.js';
import { AuditFollower, run, type Run } from '../../../packages/testkit/src/tool_run.js';

export interface OpensslOptions { env?: NodeJS.ProcessEnv; cwd?: string; input?: string }

/** `openssl …` in `work()` with `env()` unless the call says otherwise. */
export function opensslRunner(work: () => string, env: () => NodeJS.ProcessEnv): (args: readonly string[], opts?: OpensslOptions) => Promise<Run> {
  return (args, opts = {}) => run('openssl', args, { cwd: opts.cwd ?? work(), env: opts.env ?? env(), ...(opts.input !== undefined ? { input: opts.input } : {}) });
}

/** The handle a key-reference file names; fails the test when the file is not a key reference. */
export function handleOf(file: string): number {
  const h = referencedHandle(readPrivateKeyFile(readFileSync(file, 'utf8')));
  assert.ok(h !== undefined, `${file} is not a key reference`);
  return h;
}

/** The store's chain and each node's key-use log, from where the last call stopped, through the COs (node 1 first). */
export function auditOf(nodeCos: () => readonly ProtocolClient[]): () => ReturnType<AuditFollower['next']> {
  const follower = new AuditFollower(() => nodeCos()[0]!, () => [...nodeCos()]);
  return () => follower.next();
}
