/**
 * Tests of src/credentials.ts: where implicit credentials come from and in
 * which order (HSM_USER/HSM_PASSWORD/HSM_PARTITION, then azcloudhsm_password),
 * and that malformed ones are errors naming the variable, never the password.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { implicitCredentials } from '../src/credentials.js';
import { CredentialsError } from '../src/errors.js';

test('no variables: no implicit credentials', () => {
  assert.equal(implicitCredentials({}), undefined);
  assert.equal(implicitCredentials({ HSM_PARTITION: 'PARTITION_1' }), undefined);
});

test('HSM_USER / HSM_PASSWORD / HSM_PARTITION (the JCE guide)', () => {
  assert.deepEqual(implicitCredentials({ HSM_USER: 'cu1', HSM_PASSWORD: 'user1234', HSM_PARTITION: 'PARTITION_2' }), { partition: 'PARTITION_2', user: 'cu1', password: 'user1234', source: 'HSM_USER' });
  assert.equal(implicitCredentials({ HSM_USER: 'cu1', HSM_PASSWORD: 'user1234' })?.partition, 'PARTITION_1');
});

test('azcloudhsm_password="user:password" (the OpenSSL engine)', () => {
  assert.deepEqual(implicitCredentials({ azcloudhsm_password: 'cu1:user1234' }), { partition: 'PARTITION_1', user: 'cu1', password: 'user1234', source: 'azcloudhsm_password' });
});

test('precedence: HSM_* wins over azcloudhsm_password', () => {
  const c = implicitCredentials({ HSM_USER: 'cu2', HSM_PASSWORD: 'user5678', azcloudhsm_password: 'cu1:user1234' });
  assert.equal(c?.user, 'cu2');
  assert.equal(c?.source, 'HSM_USER');
});

test('the first source present wins even when incomplete: no silent fall-through', () => {
  const secret = 'hunter22';
  for (const env of [{ HSM_USER: 'cu1', azcloudhsm_password: 'cu1:user1234' }, { HSM_PASSWORD: secret }]) {
    assert.throws(() => implicitCredentials(env), (e: unknown) => e instanceof CredentialsError && e.code === 'ERR_SDK_CREDENTIALS' && /HSM_(USER|PASSWORD) is set but/.test(e.message) && !e.message.includes(secret));
  }
  for (const bad of ['cu1', ':user1234', 'cu1:', '']) {
    if (bad === '') assert.equal(implicitCredentials({ azcloudhsm_password: bad }), undefined);
    else assert.throws(() => implicitCredentials({ azcloudhsm_password: bad }), (e: unknown) => e instanceof CredentialsError && /azcloudhsm_password must be "user:password"/.test(e.message) && !e.message.includes('user1234'));
  }
});
