/**
 * @module Implicit sign-in credentials: where the SDK looks, in which order.
 *
 * The JCE provider's implicit sign-in (azure-jce-the Azure Cloud HSM guides) reads
 * `HSM_USER`, `HSM_PASSWORD` and `HSM_PARTITION`; the OpenSSL engine reads
 * `azcloudhsm_password="user:password"` (the Azure Cloud HSM authentication guide, "OpenSSL authentication").
 * The SDK accepts both, with this precedence:
 *
 * 1. an explicit `LoginManager.login(partition, user, password)` — always wins;
 * 2. `HSM_USER` / `HSM_PASSWORD` (and `HSM_PARTITION`, default `PARTITION_1`);
 * 3. `azcloudhsm_password` (`user:password`; the partition is `HSM_PARTITION` or `PARTITION_1`).
 *
 * As in the JCE lineage, the first source that is present wins even when it is
 * incomplete or wrong: a half-set `HSM_*` pair is an error naming the missing
 * variable, not a silent fall-through to `azcloudhsm_password` (a typo should
 * not sign an application in as someone else). Messages never contain a password.
 */
import { CredentialsError } from './errors.js';

export const DEFAULT_PARTITION = 'PARTITION_1';

export type CredentialSource = 'explicit' | 'HSM_USER' | 'azcloudhsm_password';

export interface Credentials {
  readonly partition: string;
  readonly user: string;
  readonly password: string;
  readonly source: CredentialSource;
}

const present = (v: string | undefined): v is string => v !== undefined && v !== '';

/** The implicit credentials in `env`, or undefined when it holds none. Throws CredentialsError when malformed. */
export function implicitCredentials(env: NodeJS.ProcessEnv = process.env): Credentials | undefined {
  const partition = present(env.HSM_PARTITION) ? env.HSM_PARTITION : DEFAULT_PARTITION;
  if (present(env.HSM_USER) || present(env.HSM_PASSWORD)) {
    if (!present(env.HSM_USER)) throw new CredentialsError('HSM_PASSWORD is set but HSM_USER is not: set both for implicit sign-in (or neither)');
    if (!present(env.HSM_PASSWORD)) throw new CredentialsError('HSM_USER is set but HSM_PASSWORD is not: set both for implicit sign-in (or neither)');
    return { partition, user: env.HSM_USER, password: env.HSM_PASSWORD, source: 'HSM_USER' };
  }
  const pin = env.azcloudhsm_password;
  if (present(pin)) {
    const colon = pin.indexOf(':');
    if (colon <= 0 || colon === pin.length - 1) throw new CredentialsError('azcloudhsm_password must be "user:password" (a crypto user\'s name, a colon, the password)');
    return { partition, user: pin.slice(0, colon), password: pin.slice(colon + 1), source: 'azcloudhsm_password' };
  }
  return undefined;
}
