/**
 * libazcloudhsm_pkcs11.so loaded into this very Node.js process through the
 * pkcs11js addon (npm), against three real node processes and a real
 * azcloudhsm_client daemon (packages/testkit/src/cluster.ts):
 *
 *  - the PKCS#11 flow an application written for Node would use: C_Initialize,
 *    slot [1], token info, a RW session, a wrong PIN (0xA3, CKR_PIN_EXPIRED, as
 *    pkcs11js's error), C_Login cu1:user1234, an EC P-256 key pair whose
 *    CKM_ECDSA_SHA256 signature node:crypto verifies with the public key read
 *    from CKA_EC_POINT, an AES-256 key whose CKM_AES_GCM ciphertext node:crypto
 *    decrypts, C_DestroyObject, C_Logout, C_CloseSession, C_Finalize;
 *  - an operation in flight when a node dies: signing loops on four sessions run for ~3 s
 *    while the busiest node (the daemon's first choice under its default `pack` routing)
 *    is killed with SIGKILL; the daemon retries on another node, so every C_Sign returns
 *    CKR_OK. The node is started again afterwards.
 *
 * The module finds the daemon through AZCLOUDHSM_APPLICATION_CFG.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createDecipheriv, createPublicKey, randomBytes, verify as cryptoVerify } from 'node:crypto';
import pkcs11js from 'pkcs11js';
import { p11World } from './p11_world.js';

const PIN = 'cu1:user1234';
/** DER of the OID prime256v1 (1.2.840.10045.3.1.7). */
const P256 = Buffer.from('06082a8648ce3d030107', 'hex');
/** SubjectPublicKeyInfo header of a P-256 key, up to the BIT STRING's first content byte. */
/** Slot ID 1 as pkcs11js passes handles (CK_ULONG, little-endian). */
const SLOT = Buffer.from([1, 0, 0, 0, 0, 0, 0, 0]);
/** v2.40 session states (pkcs11js has no constants for them). */
const CKS_RW_PUBLIC_SESSION = 2;
const CKS_RW_USER_FUNCTIONS = 3;
const P256_SPKI_PREFIX = Buffer.from('3059301306072a8648ce3d020106082a8648ce3d030107034200', 'hex');

/* The module is loaded but not initialised: the tests call initialize() and finalize(). */
const w = p11World('node', { users: [{ user: 'cu1', password: 'user1234', role: 'CU' }], sessionMode: 'HOST', initialize: false });

function initialize(): pkcs11js.PKCS11 {
  w.p11.C_Initialize();
  return w.p11;
}

function finalize(m: pkcs11js.PKCS11): void {
  m.C_Finalize();
}

/** The public key of an EC P-256 key pair, from its CKA_EC_POINT (a DER OCTET STRING, or the bare point). */
function publicKeyOf(m: pkcs11js.PKCS11, session: Buffer, pub: Buffer) {
  const [attr] = m.C_GetAttributeValue(session, pub, [{ type: pkcs11js.CKA_EC_POINT }]);
  let point = attr!.value as Buffer;
  assert.ok(Buffer.isBuffer(point), 'CKA_EC_POINT is a byte string');
  if (point.length === 67 && point[0] === 0x04 && point[1] === 0x41) point = point.subarray(2);
  assert.equal(point.length, 65, `CKA_EC_POINT ${attr!.value?.toString('hex')}`);
  assert.equal(point[0], 0x04, 'an uncompressed point');
  return createPublicKey({ key: Buffer.concat([P256_SPKI_PREFIX, point]), format: 'der', type: 'spki' });
}

function generateEcPair(m: pkcs11js.PKCS11, session: Buffer, label: string): pkcs11js.KeyPair {
  return m.C_GenerateKeyPair(
    session,
    { mechanism: pkcs11js.CKM_EC_KEY_PAIR_GEN },
    [
      { type: pkcs11js.CKA_EC_PARAMS, value: P256 },
      { type: pkcs11js.CKA_VERIFY, value: true },
      { type: pkcs11js.CKA_TOKEN, value: false },
      { type: pkcs11js.CKA_LABEL, value: label },
    ],
    [
      { type: pkcs11js.CKA_SIGN, value: true },
      { type: pkcs11js.CKA_TOKEN, value: false },
      { type: pkcs11js.CKA_LABEL, value: label },
    ],
  );
}

test('pkcs11js in this process: slot [1], token, wrong PIN 0xA3, cu1:user1234, ECDSA P-256 and AES-256-GCM checked by node:crypto, cleanup', async () => {
  const m = initialize();

  const info = m.C_GetInfo();
  assert.equal(info.cryptokiVersion.major, 2);
  assert.equal(info.cryptokiVersion.minor, 40);
  assert.match(info.manufacturerID, /^OpenCloudHSM/);

  const slots = m.C_GetSlotList(true);
  assert.equal(slots.length, 1);
  assert.equal(slots[0]!.readBigUInt64LE(0), 1n, 'the slot ID is 1');
  const slot = slots[0]!;

  const token = m.C_GetTokenInfo(slot);
  assert.match(token.label, /^OpenCloudHSM PARTN:\d+/);
  assert.match(token.manufacturerID, /^OpenCloudHSM/);
  assert.match(token.model, /^Cloud HSM/);
  const want = pkcs11js.CKF_RNG | pkcs11js.CKF_LOGIN_REQUIRED | pkcs11js.CKF_USER_PIN_INITIALIZED | pkcs11js.CKF_TOKEN_INITIALIZED;
  assert.equal(token.flags & want, want, `token flags 0x${token.flags.toString(16)}`);

  const session = m.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
  const sinfo = m.C_GetSessionInfo(session);
  assert.equal(sinfo.flags & pkcs11js.CKF_RW_SESSION, pkcs11js.CKF_RW_SESSION);

  /* A wrong password: the Azure code 0xA3 (CKR_PIN_EXPIRED), surfaced as pkcs11js's Pkcs11Error. */
  assert.throws(
    () => m.C_Login(session, pkcs11js.CKU_USER, 'cu1:wrongpass1'),
    (e: unknown) => {
      assert.ok(e instanceof pkcs11js.Pkcs11Error, `a Pkcs11Error, got ${String(e)}`);
      assert.equal(e.code, 0xa3);
      assert.equal(e.code, pkcs11js.CKR_PIN_EXPIRED);
      assert.equal(e.message, 'CKR_PIN_EXPIRED');
      return true;
    },
  );

  m.C_Login(session, pkcs11js.CKU_USER, PIN);
  assert.equal(m.C_GetSessionInfo(session).state, CKS_RW_USER_FUNCTIONS);

  /* ECDSA P-256: signed in the HSM, verified in software with the public point it returns. */
  const pair = generateEcPair(m, session, 'pkcs11js-ec');
  const [params] = m.C_GetAttributeValue(session, pair.publicKey, [{ type: pkcs11js.CKA_EC_PARAMS }]);
  assert.equal((params!.value as Buffer).toString('hex'), P256.toString('hex'));
  const pubKey = publicKeyOf(m, session, pair.publicKey);
  const message = Buffer.from('OpenCloudHSM through pkcs11js: sign in the HSM, verify in node:crypto');
  m.C_SignInit(session, { mechanism: pkcs11js.CKM_ECDSA_SHA256 }, pair.privateKey);
  const signature = m.C_Sign(session, message, Buffer.alloc(256));
  assert.equal(signature.length, 64, 'r || s, 32 bytes each');
  assert.ok(cryptoVerify('sha256', message, { key: pubKey, dsaEncoding: 'ieee-p1363' }, signature), 'node:crypto verifies the HSM signature');
  const tampered = Buffer.from(message);
  tampered[0]! ^= 1;
  assert.ok(!cryptoVerify('sha256', tampered, { key: pubKey, dsaEncoding: 'ieee-p1363' }, signature), 'and rejects it for other data');
  /* And the HSM verifies it too. */
  m.C_VerifyInit(session, { mechanism: pkcs11js.CKM_ECDSA_SHA256 }, pair.publicKey);
  assert.equal(m.C_Verify(session, message, signature), true);

  /* AES-256-GCM: encrypted in the HSM, decrypted by node:crypto. */
  const aes = m.C_GenerateKey(session, { mechanism: pkcs11js.CKM_AES_KEY_GEN }, [
    { type: pkcs11js.CKA_VALUE_LEN, value: 32 },
    { type: pkcs11js.CKA_ENCRYPT, value: true },
    { type: pkcs11js.CKA_DECRYPT, value: true },
    { type: pkcs11js.CKA_EXTRACTABLE, value: true },
    { type: pkcs11js.CKA_TOKEN, value: false },
    { type: pkcs11js.CKA_LABEL, value: 'pkcs11js-aes' },
  ]);
  /* The key stays in the HSM: CKA_VALUE of a sensitive key is not given out. */
  assert.throws(() => m.C_GetAttributeValue(session, aes, [{ type: pkcs11js.CKA_VALUE }]), (e: unknown) => e instanceof pkcs11js.Pkcs11Error && e.code === pkcs11js.CKR_ATTRIBUTE_SENSITIVE);
  const [len] = m.C_GetAttributeValue(session, aes, [{ type: pkcs11js.CKA_VALUE_LEN }]);
  assert.equal((len!.value as Buffer).readBigUInt64LE(0), 32n);
  const iv = randomBytes(12);
  const aad = Buffer.from('OpenCloudHSM additional data');
  const plain = randomBytes(1000);
  const gcmParams: pkcs11js.GcmParams = { type: pkcs11js.CK_PARAMS_AES_GCM_v240, iv, ivBits: 96, aad, tagBits: 128 };
  const gcmMech: pkcs11js.Mechanism = { mechanism: pkcs11js.CKM_AES_GCM, parameter: gcmParams };
  m.C_EncryptInit(session, gcmMech, aes);
  const sealed = m.C_Encrypt(session, plain, Buffer.alloc(plain.length + 64));
  assert.equal(sealed.length, plain.length + 16, 'ciphertext || 16-byte tag');
  /* node:crypto needs the key's bytes: the HSM wraps the generated key (RFC 3394) under a key
   * encryption key this test imported, and node:crypto unwraps it. */
  const kekBytes = randomBytes(32);
  const kek = m.C_CreateObject(session, [
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
    { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_AES },
    { type: pkcs11js.CKA_VALUE, value: kekBytes },
    { type: pkcs11js.CKA_WRAP, value: true },
    { type: pkcs11js.CKA_TOKEN, value: false },
  ]);
  const wrapped = m.C_WrapKey(session, { mechanism: pkcs11js.CKM_AES_KEY_WRAP }, kek, aes, Buffer.alloc(64));
  assert.equal(wrapped.length, 40, 'RFC 3394 of 32 bytes');
  const unwrap = createDecipheriv('id-aes256-wrap', kekBytes, Buffer.from('a6a6a6a6a6a6a6a6', 'hex'));
  const keyBytes = Buffer.concat([unwrap.update(wrapped), unwrap.final()]);
  assert.equal(keyBytes.length, 32);
  const gcm = createDecipheriv('aes-256-gcm', keyBytes, iv, { authTagLength: 16 });
  gcm.setAAD(aad);
  gcm.setAuthTag(sealed.subarray(plain.length));
  const opened = Buffer.concat([gcm.update(sealed.subarray(0, plain.length)), gcm.final()]);
  assert.ok(opened.equals(plain), 'node:crypto decrypts the HSM\'s AES-256-GCM ciphertext');
  /* And the HSM decrypts it too. */
  m.C_DecryptInit(session, gcmMech, aes);
  assert.ok(m.C_Decrypt(session, sealed, Buffer.alloc(sealed.length)).equals(plain));
  m.C_DestroyObject(session, kek);
  m.C_DestroyObject(session, aes);

  m.C_DestroyObject(session, pair.privateKey);
  m.C_DestroyObject(session, pair.publicKey);
  assert.throws(() => m.C_GetAttributeValue(session, pair.privateKey, [{ type: pkcs11js.CKA_CLASS }]), (e: unknown) => e instanceof pkcs11js.Pkcs11Error && e.code === pkcs11js.CKR_OBJECT_HANDLE_INVALID);

  m.C_Logout(session);
  assert.equal(m.C_GetSessionInfo(session).state, CKS_RW_PUBLIC_SESSION);
  m.C_CloseSession(session);
  finalize(m);
});

test('a node killed with SIGKILL while C_Sign calls are in flight: every C_Sign returns CKR_OK (the daemon retries on another node)', async (t) => {
  const m = initialize();
  const session = m.C_OpenSession(SLOT, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
  m.C_Login(session, pkcs11js.CKU_USER, PIN);
  const pair = generateEcPair(m, session, 'pkcs11js-failover');
  const pubKey = publicKeyOf(m, session, pair.publicKey);

  let ok = 0;
  let unverified = 0;
  const failures: string[] = [];
  let killedAt = -1;
  let victim = 0;
  const started = Date.now();
  const deadline = started + 3_000;
  /* The killer runs on the event loop while the loops below wait on C_SignAsync (the addon's worker thread). */
  const killer = (async () => {
    /* The node that used the most CPU meanwhile: the one serving (all of the load under pack, a third under spread). */
    victim = await w.lc.busiestNode(800);
    killedAt = ok;
    await w.lc.killNode(victim, 'SIGKILL');
  })();
  /* Four sessions sign concurrently so that requests are in flight on the node when it dies. */
  const loop = async (s: Buffer, id: number) => {
    for (let i = 0; Date.now() < deadline && failures.length <= 20; i++) {
      const data = Buffer.from(`in flight ${id}/${i}`);
      try {
        m.C_SignInit(s, { mechanism: pkcs11js.CKM_ECDSA_SHA256 }, pair.privateKey);
        const sig = await m.C_SignAsync(s, data, Buffer.alloc(256));
        if (cryptoVerify('sha256', data, { key: pubKey, dsaEncoding: 'ieee-p1363' }, sig)) ok++;
        else unverified++;
      } catch (e) {
        failures.push(String(e));
      }
    }
  };
  const sessions = [session, ...[1, 2, 3].map(() => m.C_OpenSession(SLOT, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION))];
  await Promise.all(sessions.map((s, id) => loop(s, id)));
  for (const s of sessions.slice(1)) m.C_CloseSession(s);
  await killer;
  const killed = w.lc.node(victim).proc;
  assert.ok(killed && killed.signalCode === 'SIGKILL', `node ${victim} was killed`);
  assert.deepEqual(failures, [], `${failures.length} C_Sign calls failed`);
  assert.equal(unverified, 0, 'every signature verifies');
  assert.ok(ok > 0, 'signatures were made');
  assert.ok(killedAt >= 0 && ok > killedAt, `signatures after the kill (${killedAt} before, ${ok} in all)`);

  await w.lc.startNode(victim);
  /* Still fine with the node back. */
  m.C_SignInit(session, { mechanism: pkcs11js.CKM_ECDSA_SHA256 }, pair.privateKey);
  const last = m.C_Sign(session, Buffer.from('after restart'), Buffer.alloc(256));
  assert.ok(cryptoVerify('sha256', Buffer.from('after restart'), { key: pubKey, dsaEncoding: 'ieee-p1363' }, last));

  m.C_DestroyObject(session, pair.privateKey);
  m.C_DestroyObject(session, pair.publicKey);
  m.C_Logout(session);
  m.C_CloseSession(session);
  finalize(m);
  const retries = (w.daemon.log().match(/retrying on another/g) ?? []).length;
  t.diagnostic(`${ok} signatures in ${Date.now() - started} ms, node ${victim} killed after ${killedAt}; the daemon retried ${retries} request(s) on another node`);
});
