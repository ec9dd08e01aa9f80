/**
 * The core's export and wrap table (hsm-core authz/export_policy.ts) through
 * the SDK's raw client (HsmClient.request, signed in by a LoginManager) over
 * a real daemon and three real nodes: each row's refusal arrives as its own
 * HsmError code and message, and a request that satisfies the row wraps.
 *
 * The raw client expresses every row. The WebCrypto layer cannot: its
 * wrapKey refuses a non-extractable CryptoKey itself (as WebCrypto requires)
 * before the HSM is asked, and its key generation has no CKA_WRAP_WITH_TRUSTED
 * (docs/sdk.md).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as P from '../../protocol/src/pkcs11.js';
import { attr } from '../../protocol/src/attributes.js';
import { HsmError } from '../../protocol/src/errors.js';
import { connectNode } from '../../testkit/src/cluster.js';
import type { HsmClient } from '../src/client.js';
import { CU1, CU2, startSdkEnv, type SdkEnv } from './helpers.js';

const KW = { mechanism: P.CKM_AES_KEY_WRAP_PAD };
const P256 = Buffer.from('06082a8648ce3d030107', 'hex');

let env: SdkEnv;
let cu1: HsmClient;
let cu2: HsmClient;
let kek: number;
let trusted: number;

before(async () => {
  env = await startSdkEnv({ sessionMode: 'APPLICATION' });
  const a = env.manager();
  await a.login('PARTITION_1', CU1.user, CU1.password);
  const b = env.manager();
  await b.login('PARTITION_1', CU2.user, CU2.password);
  cu1 = a.client;
  cu2 = b.client;
  kek = await aes(cu1);
  trusted = await aes(cu1);
  await asCO((c) => c.request('setAttributeValue', { handle: trusted, template: [attr.bool(P.CKA_TRUSTED, true)] }));
});
after(async () => {
  await env?.stop();
});

const aes = async (c: HsmClient, extra: ReturnType<typeof attr.bool>[] = []) => (await c.request('generateKey', {
  mechanism: { mechanism: P.CKM_AES_KEY_GEN },
  template: [
    attr.bool(P.CKA_TOKEN, true), attr.ulong(P.CKA_VALUE_LEN, 32), attr.bool(P.CKA_WRAP, true), attr.bool(P.CKA_ENCRYPT, true),
    ...(extra.some((a) => a.type === P.CKA_EXTRACTABLE) ? [] : [attr.bool(P.CKA_EXTRACTABLE, true)]), ...extra,
  ],
})).handle;

const wrap = (c: HsmClient, wrappingHandle: number, keyHandle: number) => c.request('wrapKey', { mechanism: KW, wrappingHandle, keyHandle });

const refused = (code: string, message: RegExp) => (e: unknown) => {
  assert.ok(e instanceof HsmError, String(e));
  assert.equal(e.code, code, e.message);
  assert.match(e.message, message);
  return true;
};

/** A crypto officer over its own node connection (the daemon serves applications, not officers). */
async function asCO(fn: (c: Awaited<ReturnType<typeof connectNode>>) => Promise<unknown>): Promise<void> {
  const c = await connectNode(env.cluster.nodes[0]!.port, env.cluster.poCrt);
  try {
    await c.request('login', { user: 'admin', password: 'adminpassword', role: 'CO' });
    await fn(c);
  } finally {
    c.close();
  }
}


test('row class: a public key is not wrapped (ERR_KEY_NOT_WRAPPABLE); the private key of the pair is', async () => {
  const pair = await cu1.request('generateKeyPair', {
    mechanism: { mechanism: P.CKM_EC_KEY_PAIR_GEN },
    publicTemplate: [attr.bytes(P.CKA_EC_PARAMS, P256), attr.bool(P.CKA_TOKEN, true), attr.bool(P.CKA_VERIFY, true)],
    privateTemplate: [attr.bool(P.CKA_TOKEN, true), attr.bool(P.CKA_SIGN, true), attr.bool(P.CKA_EXTRACTABLE, true)],
  });
  await assert.rejects(wrap(cu1, kek, pair.publicHandle), refused('ERR_KEY_NOT_WRAPPABLE', /only secret and private keys can be wrapped/));
  assert.ok((await wrap(cu1, kek, pair.privateHandle)).wrapped.length > 0);
});

test('row owner: cu2, with cu1\'s extractable key shared to it, cannot wrap it under its own KEK (ERR_KEY_NOT_WRAPPABLE); it still uses it; cu1 wraps it', async () => {
  const shared = await aes(cu1);
  await cu1.request('shareKey', { handle: shared, users: ['cu2'], share: true });
  const cu2Kek = await aes(cu2);
  await assert.rejects(wrap(cu2, cu2Kek, shared), refused('ERR_KEY_NOT_WRAPPABLE', /only its owner \(cu1\) may wrap or export it/));
  assert.equal((await cu2.request('encrypt', { mechanism: { mechanism: P.CKM_AES_ECB }, handle: shared, data: new Uint8Array(16) })).data.length, 16);
  assert.ok((await wrap(cu1, kek, shared)).wrapped.length > 0);
});

test('row extractable: a key with CKA_EXTRACTABLE FALSE is refused (ERR_KEY_UNEXTRACTABLE)', async () => {
  const fixed = await aes(cu1, [attr.bool(P.CKA_EXTRACTABLE, false)]);
  await assert.rejects(wrap(cu1, trusted, fixed), refused('ERR_KEY_UNEXTRACTABLE', /CKA_EXTRACTABLE FALSE/));
});

test('row wrap-with-trusted: a CKA_WRAP_WITH_TRUSTED key under an untrusted KEK is refused (ERR_KEY_NOT_WRAPPABLE); under a trusted one it wraps', async () => {
  const guarded = await aes(cu1, [attr.bool(P.CKA_WRAP_WITH_TRUSTED, true)]);
  await assert.rejects(wrap(cu1, kek, guarded), refused('ERR_KEY_NOT_WRAPPABLE', /can be wrapped only by a trusted key \(CKA_WRAP_WITH_TRUSTED\)/));
  assert.equal((await wrap(cu1, trusted, guarded)).wrapped.length, 40);
});

test('row default-wrap-with-trusted: with the partition policy on, a key without CKA_WRAP_WITH_TRUSTED wraps only under a trusted KEK', async () => {
  const plain = await aes(cu1);
  assert.ok((await wrap(cu1, kek, plain)).wrapped.length > 0, 'policy off: an untrusted KEK wraps it');
  await asCO((c) => c.request('setPolicy', { name: 'DEFAULT_WRAP_WITH_TRUSTED', value: 1 }));
  try {
    await assert.rejects(wrap(cu1, kek, plain), refused('ERR_KEY_NOT_WRAPPABLE', /DEFAULT_WRAP_WITH_TRUSTED/));
    assert.ok((await wrap(cu1, trusted, plain)).wrapped.length > 0);
  } finally {
    await asCO((c) => c.request('setPolicy', { name: 'DEFAULT_WRAP_WITH_TRUSTED', value: 0 }));
  }
  assert.ok((await wrap(cu1, kek, plain)).wrapped.length > 0, 'policy off again');
});
