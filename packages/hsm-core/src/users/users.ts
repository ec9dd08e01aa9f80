/**
 * @module Partition users: roles, credential rules, scrypt password hashes.
 *
 * Roles follow the Azure Cloud HSM partition model (the Azure Cloud HSM onboarding guide):
 * PRECO (the factory `admin` / `tenantadmin`, able only to claim the
 * partition; changing its password promotes it to CO), CO (user management and
 * trust attributes, cannot use keys), CU (owns and uses keys), AU (appliance
 * user, read-only). Passwords are stored only as scrypt hashes (RFC 7914) with
 * a per-user random salt and the cost parameters beside the hash, so costs can
 * rise later without invalidating old hashes.
 */
import { randomBytes, scrypt, timingSafeEqual } from '../crypto/node.js';
import { HsmError } from '../../../protocol/src/errors.js';

export type Role = 'PRECO' | 'CO' | 'CU' | 'AU';
export const ROLES: readonly Role[] = ['PRECO', 'CO', 'CU', 'AU'];

export interface ScryptParams {
  readonly N: number;
  readonly r: number;
  readonly p: number;
  readonly keyLen: number;
}

/** 2^15 × 8 × 128 B = 32 MiB per hash: about 50–100 ms on one core. */
export const DEFAULT_SCRYPT: ScryptParams = { N: 1 << 15, r: 8, p: 1, keyLen: 32 };

export interface UserRecord {
  readonly name: string;
  readonly role: Role;
  /** Numeric user id, as `listUsers` shows it; allocated once, never reused. */
  readonly id: number;
  readonly salt: string; /* hex */
  readonly hash: string; /* hex */
  readonly scrypt: ScryptParams;
  /** Consecutive failed sign-ins since the last success or unlock. */
  readonly failures: number;
  readonly locked: boolean;
  readonly created: number;
}

/* The PKCS#11 PIN is `user:password`, and the real tools split on these too. */
const FORBIDDEN = /[#:;'\s\x00-\x1f\x7f]/;
export const NAME_MAX = 32;
export const PASSWORD_MIN = 7;
export const PASSWORD_MAX = 32;

export function validateUserName(name: unknown): string {
  if (typeof name !== 'string' || name.length === 0) throw new HsmError('ERR_ARGUMENTS_BAD', 'user name is empty');
  if (name.length > NAME_MAX) throw new HsmError('ERR_ARGUMENTS_BAD', `user name is longer than ${NAME_MAX} characters`);
  if (FORBIDDEN.test(name)) {
    throw new HsmError('ERR_ARGUMENTS_BAD', "user name contains a character that is not allowed (# : ; ' white space or control characters)");
  }
  return name;
}

/** Check a new password. The message never repeats the password. */
export function validatePassword(password: unknown): string {
  if (typeof password !== 'string') throw new HsmError('ERR_PIN_INVALID', 'password is not a string');
  if (password.length < PASSWORD_MIN || password.length > PASSWORD_MAX) {
    throw new HsmError('ERR_PIN_LEN_RANGE', `password must be ${PASSWORD_MIN} to ${PASSWORD_MAX} characters long`);
  }
  if (FORBIDDEN.test(password)) {
    throw new HsmError('ERR_PIN_INVALID', "password contains a character that is not allowed (# : ; ' white space or control characters)");
  }
  return password;
}

export function parseRole(role: unknown): Role {
  if (typeof role === 'string' && (ROLES as readonly string[]).includes(role.toUpperCase())) return role.toUpperCase() as Role;
  throw new HsmError('ERR_USER_TYPE_INVALID', `unknown user type ${JSON.stringify(String(role))}; expected one of ${ROLES.join(', ')}`);
}

function scryptAsync(password: string, salt: Buffer, params: ScryptParams): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(password, salt, params.keyLen, { N: params.N, r: params.r, p: params.p, maxmem: 256 * params.N * params.r + (1 << 20) }, (err, key) => {
      if (err) reject(new HsmError('ERR_GENERAL', 'password hashing failed', { cause: err }));
      else resolve(key);
    });
  });
}

export async function hashPassword(password: string, params: ScryptParams): Promise<{ salt: string; hash: string; scrypt: ScryptParams }> {
  const salt = randomBytes(16);
  const hash = await scryptAsync(password, salt, params);
  return { salt: salt.toString('hex'), hash: hash.toString('hex'), scrypt: { ...params } };
}

/** Constant-time comparison of a candidate password against a stored hash. */
export async function verifyPassword(password: string, rec: Pick<UserRecord, 'salt' | 'hash' | 'scrypt'>): Promise<boolean> {
  const expected = Buffer.from(rec.hash, 'hex');
  const got = await scryptAsync(password, Buffer.from(rec.salt, 'hex'), { ...rec.scrypt, keyLen: expected.length });
  return got.length === expected.length && timingSafeEqual(got, expected);
}

export interface UserInfo {
  readonly id: number;
  readonly name: string;
  readonly role: Role;
  readonly locked: boolean;
  readonly failures: number;
}

export function userInfo(u: UserRecord): UserInfo {
  return { id: u.id, name: u.name, role: u.role, locked: u.locked, failures: u.failures };
}
