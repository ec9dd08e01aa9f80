/* The curve table (names, OIDs, sizes) is the protocol's, the one home for every layer: packages/protocol/src/curves.ts. */
export * from '../../../protocol/src/curves.js';
