/* The DER helpers are the protocol's, shared with the CLIs: packages/protocol/src/der.ts. */
export * from '../../../protocol/src/der.js';
