/**
 * @module The WebCrypto error names, and the one table that maps HSM failures onto them.
 *
 * WebCrypto (W3C Web Cryptography API §14.3, §18) rejects with DOMExceptions
 * whose `name` says what went wrong: NotSupportedError (an algorithm or
 * format this implementation does not offer), InvalidAccessError (the key
 * cannot be used so: wrong usage, wrong algorithm, not extractable),
 * OperationError (the operation failed: bad parameters, data that does not
 * decrypt), DataError (key data that is not a valid key), SyntaxError
 * (usages that make no sense for the key) — and TypeError for misuse of the
 * API itself (a missing member, a value of the wrong type).
 *
 * The SDK checks what it can before anything reaches the HSM, with these
 * names; what the HSM refuses comes back as an HsmError and is mapped by
 * `HSM_TO_DOM` below. Sign-in and connection failures are not mapped: they
 * keep the SDK's own classes (../errors.ts), since they are not the
 * algorithm's fault. The DOMException keeps the HsmError as its `cause`.
 */
import { HsmError, type HsmErrorCode } from '../../../protocol/src/errors.js';

export type DomErrorName = 'NotSupportedError' | 'InvalidAccessError' | 'OperationError' | 'DataError' | 'SyntaxError' | 'QuotaExceededError' | 'TypeMismatchError';

export function domError(name: DomErrorName, message: string, cause?: unknown): DOMException {
  const e = new DOMException(message, name);
  if (cause !== undefined) Object.defineProperty(e, 'cause', { value: cause, configurable: true, writable: true, enumerable: false });
  return e;
}

export const notSupported = (message: string, cause?: unknown): DOMException => domError('NotSupportedError', message, cause);
export const invalidAccess = (message: string, cause?: unknown): DOMException => domError('InvalidAccessError', message, cause);
export const operationError = (message: string, cause?: unknown): DOMException => domError('OperationError', message, cause);
export const dataError = (message: string, cause?: unknown): DOMException => domError('DataError', message, cause);
export const syntaxError = (message: string, cause?: unknown): DOMException => domError('SyntaxError', message, cause);

/**
 * HSM error codes that describe a cryptographic failure, and the WebCrypto
 * name each becomes. Template errors (the HSM refused key material or
 * attributes) become DataError when importing and OperationError otherwise,
 * so they are not listed here.
 */
export const HSM_TO_DOM: Readonly<Partial<Record<HsmErrorCode, DomErrorName>>> = {
  ERR_KEY_FUNCTION_NOT_PERMITTED: 'InvalidAccessError',
  ERR_KEY_UNEXTRACTABLE: 'InvalidAccessError',
  ERR_KEY_NOT_WRAPPABLE: 'InvalidAccessError',
  ERR_KEY_TYPE_INCONSISTENT: 'InvalidAccessError',
  ERR_WRAPPING_KEY_TYPE_INCONSISTENT: 'InvalidAccessError',
  ERR_UNWRAPPING_KEY_TYPE_INCONSISTENT: 'InvalidAccessError',
  ERR_KEY_HANDLE_INVALID: 'InvalidAccessError',
  ERR_OBJECT_HANDLE_INVALID: 'InvalidAccessError',
  ERR_WRAPPING_KEY_HANDLE_INVALID: 'InvalidAccessError',
  ERR_UNWRAPPING_KEY_HANDLE_INVALID: 'InvalidAccessError',
  ERR_NOT_PERMITTED: 'InvalidAccessError',
  ERR_ACTION_PROHIBITED: 'InvalidAccessError',
  ERR_MECHANISM_INVALID: 'NotSupportedError',
  ERR_CURVE_NOT_SUPPORTED: 'NotSupportedError',
  ERR_KEY_SIZE_RANGE: 'OperationError',
  ERR_MECHANISM_PARAM_INVALID: 'OperationError',
  ERR_DATA_INVALID: 'OperationError',
  ERR_DATA_LEN_RANGE: 'OperationError',
  ERR_ENCRYPTED_DATA_INVALID: 'OperationError',
  ERR_ENCRYPTED_DATA_LEN_RANGE: 'OperationError',
  ERR_WRAPPED_KEY_INVALID: 'OperationError',
  ERR_WRAPPED_KEY_LEN_RANGE: 'OperationError',
  ERR_SIGNATURE_INVALID: 'OperationError',
  ERR_SIGNATURE_LEN_RANGE: 'OperationError',
  ERR_LIMIT: 'OperationError',
  ERR_ARGUMENTS_BAD: 'OperationError',
};

const TEMPLATE_CODES: readonly HsmErrorCode[] = ['ERR_ATTRIBUTE_VALUE_INVALID', 'ERR_ATTRIBUTE_TYPE_INVALID', 'ERR_TEMPLATE_INCONSISTENT', 'ERR_TEMPLATE_INCOMPLETE', 'ERR_ATTRIBUTE_READ_ONLY'];

/**
 * Turn an HSM refusal into the WebCrypto error for `what` (e.g. "sign"),
 * leaving every other error (DOMException, TypeError, the SDK's sign-in and
 * connection errors) as it is.
 */
export function toDomError(e: unknown, what: string, templateName: 'DataError' | 'OperationError' = 'OperationError'): unknown {
  /* Only the HSM's own answers; the SDK's subclasses (NotLoggedInError, SessionKeyLostError...) stay as they are. */
  if (!(e instanceof HsmError) || Object.getPrototypeOf(e) !== HsmError.prototype) return e;
  const name = HSM_TO_DOM[e.code] ?? (TEMPLATE_CODES.includes(e.code) ? templateName : undefined);
  return name ? domError(name, `${what}: ${e.message}`, e) : e;
}
