/**
 * The node's request handler as a unit (../src/handler.ts), in one process
 * over the in-memory store: the door before and after the claim, the
 * consistency protocol (minRevision → revision), and the specific errors it
 * answers while the connection keeps working. A second partition on the same
 * store stands for another node.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { DecodedRequest } from '../../protocol/src/messages.js';
import type { CallContext } from '../../hsm-core/src/partition.js';
import { NodeHandler, type ConnectionState } from '../src/handler.js';
import { Ownership } from '../src/ownership.js';
import { signPartitionCsr } from '../../testkit/src/pki.js';
import { code, tempDirForFile, twoNodePartitions } from './helpers/in_process.js';

const tmp = tempDirForFile('handler');

/** A node's handler over a fresh store, and a second node's partition on the same store. */
async function node() {
  const { store, p1: partition, p2: other, close } = await twoNodePartitions();
  const ownership = new Ownership(partition);
  let reloads = 0;
  const handler = new NodeHandler({
    partition, store, ownership, nodeId: 1, version: '0.0.0-test', startedAt: Date.now(), sessionTtlMs: 60_000,
    cluster: () => [{ id: 1, hostname: '127.0.0.1', port: 2225 }, { id: 2, hostname: '127.0.0.2', port: 2225 }],
    onCertificatesChanged: () => void reloads++,
  });
  let sources = 0;
  const connection = (): ConnectionState => ({ principal: undefined, formerUsers: new Set(), source: `10.0.0.${++sources}` });
  const ask = (st: ConnectionState, op: string, obj: Record<string, unknown> = {}) => handler.handle(st, { op, obj } as unknown as DecodedRequest) as Promise<Record<string, unknown>>;
  /** Claim the partition as the onboarding guide does, on its own connection. */
  const claim = async () => {
    const st = connection();
    const { csr } = await ask(st, 'getCertReq');
    const owner = signPartitionCsr(join(tmp(), `owner-${randomBytes(4).toString('hex')}`), csr as Buffer);
    await ask(st, 'login', { user: 'admin', password: 'tenantadmin', role: 'PRECO' });
    await ask(st, 'storeCert', { slot: 4, cert: readFileSync(owner.poCrt) });
    await ask(st, 'storeCert', { slot: 8, cert: readFileSync(owner.poacCrt) });
    return st;
  };
  /** A claimed partition and a connection signed in as its CO (the promoted PRECO). */
  const signedInCo = async () => {
    await claim();
    const st = connection();
    await ask(st, 'login', { user: 'admin', password: 'tenantadmin', role: 'PRECO' });
    await ask(st, 'changePassword', { user: 'admin', password: 'adminpassword' });
    return st;
  };
  return { store, partition, other, handler, connection, ask, claim, signedInCo, reloads: () => reloads, close };
}

describe('the node request handler', () => {
  test('unclaimed: the limited commands are answered, everything else is ERR_PARTITION_STATE', async () => {
    const n = await node();
    try {
      const st = n.connection();
      assert.equal((await n.ask(st, 'status')).partitionState, 'factory');
      assert.equal(((await n.ask(st, 'getClusterInfo')).nodes as unknown[]).length, 2);
      assert.match(String((await n.ask(st, 'getCertReq')).csr), /^-----BEGIN CERTIFICATE REQUEST-----/);
      assert.deepEqual(((await n.ask(st, 'listUsers')).users as { user: string }[]).map((u) => u.user), ['admin']);
      await assert.rejects(n.ask(st, 'getCert', { slot: 4 }), code('ERR_ARGUMENTS_BAD', /no certificate is stored in slot 4/));
      await assert.rejects(n.ask(st, 'findObjects', { template: [] }), code('ERR_PARTITION_STATE', /claim it first/));
      await assert.rejects(n.ask(st, 'storeCert', { slot: 4, cert: Buffer.alloc(1) }), code('ERR_USER_NOT_LOGGED_IN'));
      assert.deepEqual(await n.ask(st, 'login', { user: 'admin', password: 'tenantadmin', role: 'PRECO' }), { user: 'admin', role: 'PRECO' });
      await assert.rejects(n.ask(st, 'createUser', { role: 'CU', user: 'cu1', password: 'user1234' }), code('ERR_PARTITION_STATE'));
      await assert.rejects(n.ask(st, 'login', { user: 'admin', password: 'tenantadmin' }), code('ERR_USER_ALREADY_LOGGED_IN'));
    } finally {
      n.close();
    }
  });

  test('claiming through the handler: storeCert 8 signs the connection out and reloads the TLS identity once', async () => {
    const n = await node();
    try {
      const st = await n.claim();
      assert.equal(st.principal, undefined, 'logged out after the POAC');
      assert.equal(n.reloads(), 1);
      assert.equal((await n.ask(st, 'status')).partitionState, 'e2e');
      assert.match(String((await n.ask(st, 'getCert', { slot: 8 })).cert), /^-----BEGIN CERTIFICATE-----/);
      /* The PRECO changing its password becomes a CO on the same connection. */
      await n.ask(st, 'login', { user: 'admin', password: 'tenantadmin', role: 'PRECO' });
      assert.equal(((await n.ask(st, 'changePassword', { user: 'admin', password: 'adminpassword' })).user as { role: string }).role, 'CO');
      assert.deepEqual(st.principal, { user: 'admin', role: 'CO' });
      await n.ask(st, 'createUser', { role: 'CU', user: 'cu1', password: 'user1234' });
      /* Claimed: the door is by sign-in and role now. */
      const anon = n.connection();
      await assert.rejects(n.ask(anon, 'createObject', { template: [] }), code('ERR_USER_NOT_LOGGED_IN'));
      await assert.rejects(n.ask(anon, 'logout'), code('ERR_USER_NOT_LOGGED_IN'));
      const cu = n.connection();
      await n.ask(cu, 'login', { user: 'cu1', password: 'user1234' });
      await assert.rejects(n.ask(cu, 'auditRecords', {}), code('ERR_NOT_PERMITTED'));
      await assert.rejects(n.ask(cu, 'createUser', { role: 'CU', user: 'cu2', password: 'user1234' }), code('ERR_NOT_PERMITTED'));
      assert.deepEqual(await n.ask(cu, 'loginStatus'), { loggedIn: true, user: 'cu1', role: 'CU' });
    } finally {
      n.close();
    }
  });

  test('minRevision: absent → no revision; present → the revision applied; a change made on another node is waited for; ahead of the store is refused', async () => {
    const n = await node();
    try {
      const st = await n.signedInCo();
      assert.equal('revision' in (await n.ask(st, 'listUsers')), false);
      const zero = await n.ask(st, 'listUsers', { minRevision: 0 });
      assert.equal(zero.revision, n.partition.state.applied);

      /* Node 2 creates a user; the caller has seen that revision. */
      const co: CallContext = { principal: { user: 'admin', role: 'CO' } };
      await n.other.createUser(co, 'CU', 'fromnode2', 'user1234');
      const seen = n.other.lastCommitted;
      const answer = await n.ask(st, 'listUsers', { minRevision: seen });
      assert.ok((answer.revision as number) >= seen, `answered at ${String(answer.revision)}, the caller had seen ${seen}`);
      assert.ok((answer.users as { user: string }[]).some((u) => u.user === 'fromnode2'), 'the change the caller saw is in the answer');

      await assert.rejects(n.ask(st, 'listUsers', { minRevision: seen + 1000 }), code('ERR_ARGUMENTS_BAD', /ahead of the store/));
    } finally {
      n.close();
    }
  });

  test('bad requests get specific errors and the connection keeps working', async () => {
    const n = await node();
    try {
      const anon = (await n.signedInCo(), n.connection());
      await assert.rejects(n.ask(anon, 'hello', {}), code('ERR_PROTOCOL', /connection layer/));
      await assert.rejects(n.ask(anon, 'login', { user: 'admin', password: 'wrong-password' }), code('ERR_LOGIN_FAILED'));
      assert.equal(anon.principal, undefined);
      const st = n.connection();
      await n.ask(st, 'login', { user: 'admin', password: 'adminpassword' });
      await assert.rejects(n.ask(st, 'auditRecords', { chain: 'other' }), code('ERR_ARGUMENTS_BAD', /unknown audit chain "other"/));
      await assert.rejects(n.ask(st, 'auditVerify', { chain: 'node' }), code('ERR_FUNCTION_NOT_SUPPORTED', /store's chain/));
      await assert.rejects(n.ask(st, 'deleteUser', { user: 'ghost' }), code('ERR_USER_NOT_FOUND'));
      await assert.rejects(n.ask(st, 'createUser', { role: 'CU', user: 'bad:name', password: 'user1234' }), code('ERR_ARGUMENTS_BAD'));
      /* Still signed in, still answering. */
      const verdict = await n.ask(st, 'auditVerify', {});
      assert.equal(verdict.ok, true);
      const records = (await n.ask(st, 'auditRecords', { fromSeq: 1, limit: 3 })).records as { seq: number; action: string }[];
      assert.deepEqual(records.map((r) => r.seq), [1, 2, 3]);
      assert.equal(records[0]!.action, 'initialisePartition');
    } finally {
      n.close();
    }
  });
});
