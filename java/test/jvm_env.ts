/**
 * @module What the JCE tests' JVMs and tools run with: the environment without
 * implicit credentials (HSM_USER, HSM_PASSWORD, HSM_PARTITION), a cfg override
 * or JVM options and a class path from outside, so that each test says what it
 * signs in with.
 */

/** The variables the provider or the JVM would read on their own. */
export const IMPLICIT_VARIABLES: readonly string[] = ['HSM_USER', 'HSM_PASSWORD', 'HSM_PARTITION', 'AZCLOUDHSM_APPLICATION_CFG', 'JAVA_TOOL_OPTIONS', 'CLASSPATH'];

/** This process's environment without IMPLICIT_VARIABLES, with `extra` added. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const k of IMPLICIT_VARIABLES) delete env[k];
  return { ...env, ...extra };
}
