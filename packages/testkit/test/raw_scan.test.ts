/** The shared raw-bytes scanner finds a secret in each form it promises, and a missing canary. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { scanRaw, secretForms } from '../src/raw_scan.js';

test('scanRaw finds a planted secret in raw, hex, HEX, base64 and base64url form, and a missing canary', () => {
  /* 0xfbffbf leads: its base64 is '+/+/' (so base64 and base64url differ) and its hex has letters (so hex and HEX differ); a random secret could make two forms equal. */
  const secret = Buffer.concat([Buffer.from('fbffbf', 'hex'), randomBytes(21)]);
  const canary = Buffer.from('CANARY-' + randomBytes(8).toString('hex'));
  const names = ['raw', 'hex', 'HEX', 'base64', 'base64url'];
  secretForms(secret).forEach((form, i) => {
    const bytes = Buffer.concat([randomBytes(100), form, canary, randomBytes(100)]);
    assert.deepEqual(scanRaw([{ where: 'the file', bytes }], [['the key', secret]], canary), [`the key found in the file (${names[i]})`]);
  });
  const clean = Buffer.concat([randomBytes(300), canary]);
  assert.deepEqual(scanRaw([{ where: 'the file', bytes: clean }], [['the key', secret]], canary), []);
  assert.deepEqual(scanRaw([{ where: 'the file', bytes: randomBytes(300) }], [['the key', secret]], canary), ['the canary written around the barrier is not found in the file: the scan reads the wrong bytes']);
});
