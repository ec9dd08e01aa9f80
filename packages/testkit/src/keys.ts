/**
 * @module Keys the tests make the same way everywhere: a token EC P-256
 * key pair for ECDSA, made by a signed-in CU, and the example CU's pair made
 * straight on one node of a test cluster.
 */
import * as P from '../../protocol/src/pkcs11.js';
import { attr } from '../../protocol/src/attributes.js';
import type { ProtocolClient, RequestOptions } from '../../protocol/src/connection.js';
import { connectNode, EXAMPLE_CU, type LocalCluster } from './cluster.js';

/** The DER OID of P-256 (CKA_EC_PARAMS). */
export const EC_P256 = Buffer.from('06082a8648ce3d030107', 'hex');
export const ECDSA_SHA256 = { mechanism: P.CKM_ECDSA_SHA256 };

export interface KeyPair {
  readonly publicHandle: number;
  readonly privateHandle: number;
}

/** A token EC P-256 key pair for ECDSA (CKA_SIGN / CKA_VERIFY), made by a signed-in CU; the request is bounded (60 s unless `opts` says), so a fault test never waits on it forever. */
export function generateEcSigningPair(c: ProtocolClient, opts: RequestOptions = { timeoutMs: 60_000 }): Promise<KeyPair> {
  return c.request('generateKeyPair', {
    mechanism: { mechanism: P.CKM_EC_KEY_PAIR_GEN },
    publicTemplate: [attr.bool(P.CKA_TOKEN, true), attr.bytes(P.CKA_EC_PARAMS, EC_P256), attr.bool(P.CKA_VERIFY, true)],
    privateTemplate: [attr.bool(P.CKA_TOKEN, true), attr.bool(P.CKA_SIGN, true)],
  }, opts);
}

/**
 * Sign in to node `node` of `cluster` as the example CU, make an EC signing
 * pair, run `then` on the same connection (signatures for the key-use log …),
 * close it and return the pair.
 */
export async function exampleCuSigningPair(cluster: LocalCluster, then?: (c: ProtocolClient, pair: KeyPair) => Promise<void>, node = 1): Promise<KeyPair> {
  const c = await connectNode(cluster.node(node).port, cluster.poCrt);
  try {
    await c.request('login', { user: EXAMPLE_CU.user, password: EXAMPLE_CU.password, role: 'CU' });
    const pair = await generateEcSigningPair(c);
    await then?.(c, pair);
    return pair;
  } finally {
    c.close();
  }
}
