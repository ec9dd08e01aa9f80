/**
 * @module The SDK's own errors, on top of the project's one taxonomy.
 *
 * Failures that come from the HSM keep their `HsmError` (a stable `code`, the
 * PKCS#11 `ckrv`); the SDK refines a few of them into classes a caller can
 * `instanceof` when the situation needs its own handling:
 *
 * | class | code | when |
 * |---|---|---|
 * | `HostSessionConflictError` | ERR_USER_ANOTHER_ALREADY_LOGGED_IN (0x104) | HOST sign-in mode: another application on this host holds a sign-in as another user |
 * | `NotLoggedInError` | ERR_USER_NOT_LOGGED_IN (0x101) | an operation needs a sign-in and there is none (none made, or another application signed the host out) |
 * | `SessionKeyLostError` | ERR_KEY_HANDLE_INVALID (0x60) | a session key of an earlier daemon connection: session keys end with their session |
 * | `DaemonUnavailableError` | ERR_DEVICE_ERROR (0x30) | the daemon could not be reached within the retry policy (a `ConnectionLostError`) |
 *
 * Errors that never reach the HSM carry a `code` of their own (`SdkErrorCode`):
 * a missing or invalid `azcloudhsm_application.cfg`, malformed implicit
 * credentials. The WebCrypto provider turns cryptographic failures into the
 * DOMException names WebCrypto specifies (webcrypto/errors.ts); sign-in and
 * connection failures stay these classes, because they are not the
 * algorithm's fault and a caller handles them differently.
 */
import { ConnectionLostError } from '../../protocol/src/connection.js';
import { HsmError } from '../../protocol/src/errors.js';

export type SdkErrorCode = 'ERR_SDK_CONFIG' | 'ERR_SDK_CONFIG_NOT_FOUND' | 'ERR_SDK_CREDENTIALS';

/** An error found by the SDK itself, before anything reached the daemon. */
export class SdkError extends Error {
  readonly code: SdkErrorCode;

  constructor(code: SdkErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SdkError';
    this.code = code;
  }
}

/** `azcloudhsm_application.cfg` exists but is invalid; the message names `<file>:<line>`. */
export class ConfigError extends SdkError {
  constructor(message: string, code: SdkErrorCode = 'ERR_SDK_CONFIG') {
    super(code, message);
    this.name = 'ConfigError';
  }
}

/** No `azcloudhsm_application.cfg` was found; `tried` lists where the SDK looked. */
export class ConfigNotFoundError extends ConfigError {
  /** Each place tried, as the message lists it (packages/protocol/src/appcfg_lookup.ts). */
  readonly tried: readonly string[];

  /** `message`: the one "not found" message of every client (docs/config-format.md "Lookup"). */
  constructor(message: string, tried: readonly string[]) {
    super(message, 'ERR_SDK_CONFIG_NOT_FOUND');
    this.name = 'ConfigNotFoundError';
    this.tried = tried;
  }
}

/** Implicit credentials in the environment are incomplete or malformed (the message names the variable, never the password). */
export class CredentialsError extends SdkError {
  constructor(message: string) {
    super('ERR_SDK_CREDENTIALS', message);
    this.name = 'CredentialsError';
  }
}

/**
 * HOST sign-in mode (the daemon's default, docs/daemon.md): the host is signed
 * in as `activeUser` by another application, and a sign-in as someone else is
 * refused until that application signs out. Not a wrong password: the
 * daemon's host-wide semantics, reported as they are.
 */
export class HostSessionConflictError extends HsmError {
  /** The user the host is signed in as, when the daemon said. */
  readonly activeUser: string | undefined;

  constructor(message: string, activeUser: string | undefined, options?: { cause?: unknown }) {
    super('ERR_USER_ANOTHER_ALREADY_LOGGED_IN', message, options);
    this.name = 'HostSessionConflictError';
    this.activeUser = activeUser;
  }
}

/** An operation needs a signed-in crypto user and the connection has none. */
export class NotLoggedInError extends HsmError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_USER_NOT_LOGGED_IN', message, options);
    this.name = 'NotLoggedInError';
  }
}

/** A session key (CKA_TOKEN false) from an earlier connection to the daemon: it ended with its session. */
export class SessionKeyLostError extends HsmError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_KEY_HANDLE_INVALID', message, options);
    this.name = 'SessionKeyLostError';
  }
}

/** The daemon could not be reached (or reached again) within the retry policy. */
export class DaemonUnavailableError extends ConnectionLostError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DaemonUnavailableError';
  }
}
