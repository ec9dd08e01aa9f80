/**
 * CK_CCM_PARAMS (CKM_AES_CCM) and CK_MAC_GENERAL_PARAMS (CKM_AES_CMAC_GENERAL)
 * through libazcloudhsm_pkcs11.so's mechanism translation (native/pkcs11/src/mech.c),
 * with pkcs11js in this process, against three real nodes and a real daemon:
 * an NIST SP 800-38C vector (test-vectors/nist/ccm) and RFC 4493's example 2.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import pkcs11js from 'pkcs11js';
import { p11World, REPO } from './p11_world.js';

let session: Buffer | undefined;
const w = p11World('mech', {
  users: [{ user: 'cu1', password: 'user1234', role: 'CU' }],
  sessionMode: 'APPLICATION',
  ready: (p11) => {
    const slot = p11.C_GetSlotList(true)[0]!;
    session = p11.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
    p11.C_Login(session, pkcs11js.CKU_USER, 'cu1:user1234');
  },
});

/** An AES key with a known value, made with C_CreateObject. */
const aesKey = (value: Buffer, use: pkcs11js.Template) => w.p11.C_CreateObject(session!, [
  { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY }, { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_AES },
  { type: pkcs11js.CKA_VALUE, value }, { type: pkcs11js.CKA_TOKEN, value: false }, ...use,
]);
const code = (name: string) => (e: unknown) => {
  assert.ok(e instanceof pkcs11js.Pkcs11Error, String(e));
  assert.equal(e.message, name);
  return true;
};

/** The first case of the [Tlen = 16] section of VTT128.rsp (128-bit key, 13-byte nonce, 32-byte AAD). */
function ccmVector(): { key: Buffer; nonce: Buffer; aad: Buffer; payload: Buffer; ct: Buffer; tlen: number } {
  const text = readFileSync(join(REPO, 'test-vectors', 'nist', 'ccm', 'VTT128.rsp'), 'utf8');
  const section = text.slice(text.indexOf('[Tlen = 16]'));
  const field = (name: string) => Buffer.from(new RegExp(`^${name} = ([0-9a-f]*)`, 'm').exec(section)![1]!, 'hex');
  return { key: field('Key'), nonce: field('Nonce'), aad: field('Adata'), payload: field('Payload'), ct: field('CT'), tlen: 16 };
}

test('CKM_AES_CCM with CK_CCM_PARAMS: the NIST SP 800-38C vector encrypts to ciphertext||tag and decrypts back; a wrong tag and bad parameters are refused', () => {
  const m = w.p11;
  const s = session!;
  const v = ccmVector();
  assert.equal(v.ct.length, v.payload.length + v.tlen);
  const key = aesKey(v.key, [{ type: pkcs11js.CKA_ENCRYPT, value: true }, { type: pkcs11js.CKA_DECRYPT, value: true }]);
  const ccm = (dataLength: number, macLength = v.tlen, nonce = v.nonce) => ({
    mechanism: pkcs11js.CKM_AES_CCM,
    parameter: { type: pkcs11js.CK_PARAMS_CCM, dataLength, nonce, aad: v.aad, macLength } as pkcs11js.IParams,
  });

  m.C_EncryptInit(s, ccm(v.payload.length), key);
  assert.equal(m.C_Encrypt(s, v.payload, Buffer.alloc(v.ct.length + 16)).toString('hex'), v.ct.toString('hex'));
  m.C_DecryptInit(s, ccm(v.payload.length), key);
  assert.equal(m.C_Decrypt(s, v.ct, Buffer.alloc(v.ct.length)).toString('hex'), v.payload.toString('hex'));

  const bad = Buffer.from(v.ct);
  bad[bad.length - 1]! ^= 1;
  m.C_DecryptInit(s, ccm(v.payload.length), key);
  assert.throws(() => m.C_Decrypt(s, bad, Buffer.alloc(v.ct.length)), code('CKR_ENCRYPTED_DATA_INVALID'));

  /* Bad lengths: the structure's size (checked by the module), the MAC and nonce lengths and ulDataLen (by the HSM). */
  const short = Buffer.alloc(8 * 5);
  assert.throws(() => m.C_EncryptInit(s, { mechanism: pkcs11js.CKM_AES_CCM, parameter: short }, key), code('CKR_MECHANISM_PARAM_INVALID'));
  const tryEncrypt = (mech: pkcs11js.Mechanism) => {
    m.C_EncryptInit(s, mech, key);
    return m.C_Encrypt(s, v.payload, Buffer.alloc(v.ct.length + 16));
  };
  assert.throws(() => tryEncrypt(ccm(v.payload.length, 5)), code('CKR_MECHANISM_PARAM_INVALID'));
  assert.throws(() => tryEncrypt(ccm(v.payload.length, 16, v.nonce.subarray(0, 6))), code('CKR_MECHANISM_PARAM_INVALID'));
  assert.throws(() => tryEncrypt(ccm(v.payload.length + 1)), code('CKR_MECHANISM_PARAM_INVALID'));
});

test('CKM_AES_CMAC_GENERAL with an 8-byte CK_MAC_GENERAL_PARAMS gives RFC 4493 example 2 truncated; CKM_AES_CMAC the whole of it', () => {
  const m = w.p11;
  const s = session!;
  /* RFC 4493 §4, example 2: a 16-byte message. */
  const key = aesKey(Buffer.from('2b7e151628aed2a6abf7158809cf4f3c', 'hex'), [{ type: pkcs11js.CKA_SIGN, value: true }, { type: pkcs11js.CKA_VERIFY, value: true }]);
  const msg = Buffer.from('6bc1bee22e409f96e93d7e117393172a', 'hex');
  const full = '070a16b46b4d4144f79bdd9dd04a287c';

  m.C_SignInit(s, { mechanism: pkcs11js.CKM_AES_CMAC }, key);
  assert.equal(m.C_Sign(s, msg, Buffer.alloc(16)).toString('hex'), full);

  m.C_SignInit(s, { mechanism: pkcs11js.CKM_AES_CMAC_GENERAL, parameter: 8 }, key);
  const mac = m.C_Sign(s, msg, Buffer.alloc(16));
  assert.equal(mac.toString('hex'), full.slice(0, 16));
  m.C_VerifyInit(s, { mechanism: pkcs11js.CKM_AES_CMAC_GENERAL, parameter: 8 }, key);
  assert.equal(m.C_Verify(s, msg, mac), true);

  /* A parameter of the wrong size (the module) and a MAC longer than the block (the HSM). */
  assert.throws(() => m.C_SignInit(s, { mechanism: pkcs11js.CKM_AES_CMAC_GENERAL, parameter: Buffer.alloc(3) }, key), code('CKR_MECHANISM_PARAM_INVALID'));
  assert.throws(() => {
    m.C_SignInit(s, { mechanism: pkcs11js.CKM_AES_CMAC_GENERAL, parameter: 17 }, key);
    m.C_Sign(s, msg, Buffer.alloc(32));
  }, code('CKR_MECHANISM_PARAM_INVALID'));
});
