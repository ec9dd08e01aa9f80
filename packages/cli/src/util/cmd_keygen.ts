/**
 * @module Key generation: genSymKey, genRSAKeyPair, genECCKeyPair
 * (the Azure Cloud HSM onboarding guide; the Azure Cloud HSM OpenSSL guide).
 *
 * Output, as the guides show it:
 *   Cfm3GenerateSymmetricKey returned: 0x00 : HSM Return: SUCCESS
 *   Symmetric Key Created.  Key Handle: 262150
 * and for pairs
 *   Cfm3GenerateKeyPair returned: 0x00 : HSM Return: SUCCESS
 *   Cfm3GenerateKeyPair:    public key handle: 262158    private key handle: 262159
 */
import * as P from '../../../protocol/src/pkcs11.js';
import { attr } from '../../../protocol/src/attributes.js';
import { integer, need } from './args.js';
import { CURVE_IDS, SYM_KEY_TYPES, curveById, symKeyTypeById } from './ids.js';
import type { UtilSession } from './session.js';
import { KEY_OPTION_SPEC, bigEndian, commonAttrs, keyOptions, secrecyAttrs, usageAttrs, type Attribute, type KeyOptions } from './templates.js';
import { UsageError, type UtilCommand } from './types.js';

/** `{ session }` for -sess keys (session objects live in this tool's session), else {}. */
export async function sessionFor(s: UtilSession, k: Pick<KeyOptions, 'session'>): Promise<{ session?: number }> {
  return k.session ? { session: await s.session() } : s.sessionField;
}

const KEY_OPTION_DETAILS = [
  '-l  label',
  '-id key id (text, or hex with 0x)',
  '-sess  a session key: it exists until this tool exits (default: a token key, kept in the HSM)',
  '-nex   non-extractable: the key can never be wrapped or exported',
  '-wrap_with_trusted 1  the key can be wrapped only with a trusted key (OBJ_ATTR_WRAP_WITH_TRUSTED); used for the user KEK',
];

const genSymKey: UtilCommand = {
  name: 'genSymKey',
  category: 'Key Generation: Symmetric Keys',
  help: 'Generates a symmetric key',
  syntax: 'genSymKey -t <key type> -s <key size> -l <label> [-id <key id>] [-sess] [-nex] [-wrap_with_trusted <0/1>]',
  details: [
    `-t  key type: ${SYM_KEY_TYPES.map((t) => `${t.id} = ${t.name}`).join(', ')}`,
    `-s  key size in bytes: ${SYM_KEY_TYPES.filter((t) => t.ckk !== undefined).map((t) => `${t.name} ${t.sizes}`).join('; ')}`,
    ...KEY_OPTION_DETAILS,
    'User KEK (onboarding guide §5): genSymKey -l userkek -t 31 -s 32 -wrap_with_trusted 1 (extractable, needed for key import)',
    '                                 genSymKey -l userkek -t 31 -s 32 -nex (non-extractable)',
    'then a CO marks it trusted: azcloudhsm_mgmt_util, loginHSM CO ..., setAttribute <handle> 134 1;',
    'then set USER_KEK_HANDLE=<handle> in azcloudhsm_application.cfg.',
  ],
  opts: { '-t': 'value', '-s': 'value', ...KEY_OPTION_SPEC },
  required: ['-t', '-s', '-l'],
  async run(s, o) {
    const t = symKeyTypeById(integer(need(o, '-t'), 'key type'));
    if (!t) throw new UsageError(`Invalid key type '${need(o, '-t')}': expected ${SYM_KEY_TYPES.map((x) => x.id).join(', ')}`);
    const size = integer(need(o, '-s'), 'key size');
    if (t.ckk === undefined || t.genMech === undefined) {
      throw new UsageError(`Key type ${t.id} (${t.name}) is not supported by OpenCloudHSM: it is not allowed in FIPS mode`);
    }
    if (!t.validSize(size)) throw new UsageError(`Invalid key size ${size} for ${t.name}: expected ${t.sizes} (bytes)`);
    const k = keyOptions(o);
    const template = [
      ...commonAttrs(k),
      attr.ulong(P.CKA_VALUE_LEN, size),
      ...usageAttrs(P.CKO_SECRET_KEY, t.ckk),
      ...secrecyAttrs(k),
    ];
    const r = await s.req('Cfm3GenerateSymmetricKey', 'generateKey', { ...(await sessionFor(s, k)), mechanism: { mechanism: t.genMech }, template });
    s.ok('Cfm3GenerateSymmetricKey');
    s.para(`Symmetric Key Created.  Key Handle: ${r.handle}`);
    await s.clusterStatus();
    return true;
  },
};

async function generatePair(s: UtilSession, mechanism: number, keyType: number, k: KeyOptions, pubExtra: Attribute[]): Promise<boolean> {
  const r = await s.req('Cfm3GenerateKeyPair', 'generateKeyPair', {
    ...(await sessionFor(s, k)),
    mechanism: { mechanism },
    publicTemplate: [...commonAttrs(k), ...pubExtra, ...usageAttrs(P.CKO_PUBLIC_KEY, keyType)],
    privateTemplate: [...commonAttrs(k), ...usageAttrs(P.CKO_PRIVATE_KEY, keyType), ...secrecyAttrs(k)],
  });
  s.ok('Cfm3GenerateKeyPair');
  s.para(`Cfm3GenerateKeyPair:    public key handle: ${r.publicHandle}    private key handle: ${r.privateHandle}`);
  await s.clusterStatus();
  return true;
}

const genRSAKeyPair: UtilCommand = {
  name: 'genRSAKeyPair',
  category: 'Key Generation: Asymmetric Keys',
  help: 'Generates an RSA key pair',
  syntax: 'genRSAKeyPair -m <modulus length> -e <public exponent> -l <label> [-id <key id>] [-sess] [-nex] [-wrap_with_trusted <0/1>]',
  details: ['-m  modulus length in bits: 2048 to 4096 in steps of 256', '-e  public exponent, e.g. 65537', ...KEY_OPTION_DETAILS],
  opts: { '-m': 'value', '-e': 'value', ...KEY_OPTION_SPEC },
  required: ['-m', '-e', '-l'],
  async run(s, o) {
    const bits = integer(need(o, '-m'), 'modulus length');
    if (bits < 2048 || bits > 4096 || bits % 256 !== 0) throw new UsageError(`Invalid modulus length ${bits}: expected 2048 to 4096 bits in steps of 256`);
    const e = integer(need(o, '-e'), 'public exponent', 3);
    if (e % 2 === 0) throw new UsageError(`Invalid public exponent ${e}: it must be odd, e.g. 65537`);
    return generatePair(s, P.CKM_RSA_PKCS_KEY_PAIR_GEN, P.CKK_RSA, keyOptions(o), [
      attr.ulong(P.CKA_MODULUS_BITS, bits),
      attr.bytes(P.CKA_PUBLIC_EXPONENT, bigEndian(e)),
    ]);
  },
};

const genECCKeyPair: UtilCommand = {
  name: 'genECCKeyPair',
  category: 'Key Generation: Asymmetric Keys',
  help: 'Generates an ECC key pair',
  syntax: 'genECCKeyPair -i <curve id> -l <label> [-id <key id>] [-sess] [-nex] [-wrap_with_trusted <0/1>]',
  details: [
    `-i  curve id (listECCCurveIds): ${CURVE_IDS.filter((c) => c.curve).map((c) => `${c.id} = ${c.name}`).join(', ')}`,
    ...KEY_OPTION_DETAILS,
  ],
  opts: { '-i': 'value', ...KEY_OPTION_SPEC },
  required: ['-i', '-l'],
  async run(s, o) {
    const id = integer(need(o, '-i'), 'curve id');
    const c = curveById(id);
    if (!c) throw new UsageError(`Invalid curve id ${id}: see listECCCurveIds`);
    if (!c.curve) throw new UsageError(`Curve id ${id} (${c.name}) is not supported by OpenCloudHSM: binary curves are not offered (see listECCCurveIds)`);
    return generatePair(s, P.CKM_EC_KEY_PAIR_GEN, c.curve.keyType, keyOptions(o), [attr.bytes(P.CKA_EC_PARAMS, Buffer.from(c.curve.oidDer, 'hex'))]);
  },
};

export const KEYGEN_COMMANDS: readonly UtilCommand[] = [genSymKey, genRSAKeyPair, genECCKeyPair];
