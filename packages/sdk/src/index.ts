/**
 * @module The OpenCloudHSM TypeScript SDK: the daemon client, LoginManager,
 * and the WebCrypto provider whose keys live in the HSM (docs/sdk.md).
 * Re-exports only.
 */
export { HsmClient, DEFAULT_RETRY, resolveEndpoint, type HsmClientOptions, type CallOptions, type RetryPolicy, type ConnectionHook, type RawCall } from './client.js';
export { LoginManager, type LoginManagerOptions, type LoginState, type SignInKind } from './login_manager.js';
export { implicitCredentials, DEFAULT_PARTITION, type Credentials, type CredentialSource } from './credentials.js';
export { findApplicationConfig, loadApplicationConfig, parseApplicationConfig, APPLICATION_CFG, ENV_APPLICATION_CFG, type ApplicationConfig, type Endpoint } from './config.js';
export {
  SdkError, ConfigError, ConfigNotFoundError, CredentialsError, HostSessionConflictError, NotLoggedInError, SessionKeyLostError, DaemonUnavailableError,
  type SdkErrorCode,
} from './errors.js';
export { HsmCrypto, type HsmCryptoOptions } from './webcrypto/crypto.js';
export { HsmSubtleCrypto, type HsmKeyParams } from './webcrypto/subtle.js';
export { HsmCryptoKey, type HsmCryptoKeyPair, type HsmKeyAlgorithm } from './webcrypto/key.js';
export { HsmKeyStore, type KeyQuery } from './webcrypto/key_store.js';
export { ConnectionLostError } from '../../protocol/src/connection.js';
export { HsmError, isHsmError, type HsmErrorCode } from '../../protocol/src/errors.js';
