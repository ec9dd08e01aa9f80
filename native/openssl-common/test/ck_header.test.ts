/**
 * osh_ck.h, the PKCS#11 identifiers the OpenSSL engine and provider send, must say what
 * packages/protocol/src/pkcs11.ts says: every #define there is a constant of the same name and
 * value here, so the C header cannot drift from the protocol's one home.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import * as pkcs11 from '../../../packages/protocol/src/pkcs11.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');

test('every constant of osh_ck.h has the name and value of protocol/src/pkcs11.ts', () => {
  const text = readFileSync(path.join(root, 'native/openssl-common/include/osh_ck.h'), 'utf8');
  const defines = [...text.matchAll(/^#define\s+(CK[A-Z]_[A-Z0-9_]+)\s+(0x[0-9A-Fa-f]+)U?L{0,2}\s*$/gm)];
  assert.ok(defines.length >= 40, `found ${defines.length} constants`);
  const table = pkcs11 as unknown as Record<string, number>;
  for (const [, name, value] of defines) {
    assert.equal(typeof table[name!], 'number', `${name} is not in packages/protocol/src/pkcs11.ts`);
    assert.equal(Number(value), table[name!], `${name}`);
  }
});
