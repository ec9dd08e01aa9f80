/**
 * @module The cluster harness moved to packages/testkit/src/cluster.ts (the
 * node, daemon, SDK and PKCS#11 tests start clusters with it, so it must not
 * live in the top layer). This re-export keeps existing imports working;
 * new code imports the test kit.
 */
export * from '../../testkit/src/cluster.js';
