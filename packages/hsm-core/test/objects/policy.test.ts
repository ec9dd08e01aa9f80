/**
 * Table-driven test of the attribute policy: every rule of every
 * (class, key type) table is exercised through the one checker.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as P from '../../../protocol/src/pkcs11.js';
import { ckaName } from '../../../protocol/src/names.js';
import { HsmError } from '../../../protocol/src/errors.js';
import { ATTRIBUTE_KINDS, encodeBool, encodeUlong, Template, type Attribute } from '../../src/objects/attributes.js';
import {
  applyCreateTemplate, checkSetTemplate, isReadable, POLICIES, policyFor,
  CO_ONLY, FORCED_FALSE, FORCED_TRUE, GENERATED, ONE_WAY_TRUE, REQUIRED, SENSITIVE, TOKEN_SET, UNCHANGEABLE,
} from '../../src/objects/policy.js';

const code = (c: string) => (e: unknown) => e instanceof HsmError && e.code === c;

/** A value of the right kind for an attribute, different from `than` when given. */
function valueFor(type: number, than?: Uint8Array): Uint8Array {
  switch (ATTRIBUTE_KINDS.get(type)) {
    case 'bool': return encodeBool(!(than && than[0] === 1));
    case 'ulong': return encodeUlong(than ? Number(Buffer.from(than).readBigUInt64LE(0)) + 1 : 1);
    case 'date': return Buffer.from(than && Buffer.from(than).toString() === '20300101' ? '20310101' : '20300101');
    default: return Buffer.from(than && than.length === 1 && than[0] === 0x41 ? 'B' : 'A');
  }
}

const tpl = (...attrs: Attribute[]) => Template.parse(attrs);

for (const { cls, keyType, policy } of POLICIES) {
  const name = `class 0x${cls.toString(16)}${keyType === undefined ? '' : ` key type 0x${keyType.toString(16)}`}`;

  test(`policy ${name}: every rule is enforced`, () => {
    for (const [type, rule] of policy) {
      const label = `${name} ${ckaName(type)}`;
      if (rule.flags & TOKEN_SET) {
        assert.throws(() => applyCreateTemplate(policy, tpl({ type, value: valueFor(type) }), 'create', true), code('ERR_ATTRIBUTE_READ_ONLY'), label);
      }
      if (rule.flags & FORCED_TRUE) {
        assert.throws(() => applyCreateTemplate(policy, tpl({ type, value: encodeBool(false) }), 'generate', false), code('ERR_ATTRIBUTE_VALUE_INVALID'), label);
        assert.deepEqual(applyCreateTemplate(policy, tpl(), 'derive', false).get(type), encodeBool(true), `${label} defaults TRUE`);
      }
      if (rule.flags & FORCED_FALSE) {
        assert.throws(() => applyCreateTemplate(policy, tpl({ type, value: encodeBool(true) }), 'generate', false), code('ERR_ATTRIBUTE_VALUE_INVALID'), label);
      }
      if (rule.flags & GENERATED) {
        assert.throws(() => applyCreateTemplate(policy, tpl({ type, value: valueFor(type) }), 'generate', false), code('ERR_TEMPLATE_INCONSISTENT'), label);
      }
      if (rule.flags & REQUIRED && rule.default === undefined) {
        assert.throws(() => applyCreateTemplate(policy, tpl(), 'create', false), code('ERR_TEMPLATE_INCOMPLETE'), label);
      }
      if (rule.flags & SENSITIVE) assert.equal(isReadable(policy, type), false, label);
      else assert.equal(isReadable(policy, type), true, label);

      const current = new Map<number, Uint8Array>([[type, rule.default ?? valueFor(type)]]);
      const changed = valueFor(type, current.get(type));
      if (rule.flags & (UNCHANGEABLE | TOKEN_SET)) {
        assert.throws(() => checkSetTemplate(policy, current, tpl({ type, value: changed }), false), code('ERR_ATTRIBUTE_READ_ONLY'), label);
        /* Writing the present value back is not a change. */
        assert.doesNotThrow(() => checkSetTemplate(policy, current, tpl({ type, value: current.get(type)! }), false), label);
      }
      if (rule.flags & CO_ONLY) {
        const off = new Map([[type, encodeBool(false)]]);
        assert.throws(() => applyCreateTemplate(policy, tpl({ type, value: encodeBool(true) }), 'create', false), code('ERR_ATTRIBUTE_READ_ONLY'), `${label} on create`);
        assert.throws(() => checkSetTemplate(policy, off, tpl({ type, value: encodeBool(true) }), false), code('ERR_ATTRIBUTE_READ_ONLY'), label);
        assert.doesNotThrow(() => checkSetTemplate(policy, off, tpl({ type, value: encodeBool(true) }), true), `${label} by a CO`);
      } else if (!(rule.flags & (UNCHANGEABLE | TOKEN_SET | FORCED_FALSE | ONE_WAY_TRUE | SENSITIVE))) {
        /* A plainly modifiable attribute: the owner may change it, a CO may not. */
        assert.doesNotThrow(() => checkSetTemplate(policy, current, tpl({ type, value: changed }), false), label);
        assert.throws(() => checkSetTemplate(policy, current, tpl({ type, value: changed }), true), code('ERR_NOT_PERMITTED'), `${label} by a CO`);
      }
      if (rule.flags & ONE_WAY_TRUE) {
        const off = new Map([[type, encodeBool(false)]]);
        const on = new Map([[type, encodeBool(true)]]);
        assert.doesNotThrow(() => checkSetTemplate(policy, off, tpl({ type, value: encodeBool(true) }), false), `${label} FALSE→TRUE`);
        assert.throws(() => checkSetTemplate(policy, on, tpl({ type, value: encodeBool(false) }), false), code('ERR_ATTRIBUTE_READ_ONLY'), `${label} TRUE→FALSE`);
      }
    }
  });

  test(`policy ${name}: attributes of other classes are inconsistent`, () => {
    for (const type of ATTRIBUTE_KINDS.keys()) {
      if (policy.has(type)) continue;
      assert.throws(() => applyCreateTemplate(policy, tpl({ type, value: valueFor(type) }), 'create', false), code('ERR_TEMPLATE_INCONSISTENT'), `${name} ${ckaName(type)}`);
    }
  });
}

test('keys are always sensitive and private; the Azure deviations hold', () => {
  for (const kt of [P.CKK_AES, P.CKK_RSA, P.CKK_EC]) {
    const priv = policyFor(kt === P.CKK_AES ? P.CKO_SECRET_KEY : P.CKO_PRIVATE_KEY, kt);
    assert.ok(priv.get(P.CKA_SENSITIVE)!.flags & FORCED_TRUE);
    assert.ok(priv.get(P.CKA_PRIVATE)!.flags & FORCED_TRUE);
    assert.ok(priv.get(P.CKA_EXTRACTABLE)!.flags & UNCHANGEABLE, 'CKA_EXTRACTABLE fixed at creation');
    assert.ok(priv.get(P.CKA_ID)!.flags & UNCHANGEABLE, 'CKA_ID not modifiable (Azure)');
    assert.ok(priv.get(P.CKA_WRAP_WITH_TRUSTED)!.flags & ONE_WAY_TRUE);
  }
  assert.ok(policyFor(P.CKO_PUBLIC_KEY, P.CKK_EC).get(P.CKA_DERIVE)!.flags & FORCED_FALSE);
  assert.equal(policyFor(P.CKO_CERTIFICATE).get(P.CKA_PRIVATE)!.flags & FORCED_TRUE, 0, 'certificates are public objects');
});

test('unsupported classes and key types are named in the error', () => {
  assert.throws(() => policyFor(P.CKO_HW_FEATURE), code('ERR_TEMPLATE_INCONSISTENT'));
  assert.throws(() => policyFor(P.CKO_SECRET_KEY, P.CKK_RC4), code('ERR_TEMPLATE_INCONSISTENT'));
  assert.throws(() => policyFor(P.CKO_SECRET_KEY), code('ERR_TEMPLATE_INCOMPLETE'));
});

test('template values are checked by kind and length', () => {
  const bad: [Attribute, string][] = [
    [{ type: P.CKA_SIGN, value: Uint8Array.of(1, 0) }, 'ERR_ATTRIBUTE_VALUE_INVALID'],
    [{ type: P.CKA_SIGN, value: Uint8Array.of(2) }, 'ERR_ATTRIBUTE_VALUE_INVALID'],
    [{ type: P.CKA_CLASS, value: Uint8Array.of(4, 0, 0, 0) }, 'ERR_ATTRIBUTE_VALUE_INVALID'],
    [{ type: P.CKA_START_DATE, value: Buffer.from('2030-1-1') }, 'ERR_ATTRIBUTE_VALUE_INVALID'],
    [{ type: P.CKA_LABEL, value: Uint8Array.of(0xff, 0xfe) }, 'ERR_ATTRIBUTE_VALUE_INVALID'],
    [{ type: P.CKA_LABEL, value: Buffer.alloc(257, 0x41) }, 'ERR_ATTRIBUTE_VALUE_INVALID'],
    [{ type: P.CKA_VALUE, value: Buffer.alloc(64 * 1024 + 1) }, 'ERR_ATTRIBUTE_VALUE_INVALID'],
    [{ type: 0x7fff0001, value: Uint8Array.of(1) }, 'ERR_ATTRIBUTE_TYPE_INVALID'],
  ];
  for (const [a, c] of bad) assert.throws(() => Template.parse([a]), code(c), ckaName(a.type));
  assert.throws(() => Template.parse([{ type: P.CKA_SIGN, value: encodeBool(true) }, { type: P.CKA_SIGN, value: encodeBool(false) }]), code('ERR_TEMPLATE_INCONSISTENT'));
  assert.throws(() => Template.parse(Array.from({ length: 65 }, (_, i) => ({ type: i, value: encodeBool(true) }))), code('ERR_LIMIT'));
});
