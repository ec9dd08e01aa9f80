/** @module The software version (one home: packages/ops/src/version.ts, read from package.json). */
import { VERSION } from '../../ops/src/version.js';

export { VERSION };
/** What the daemon says in `hello`, on both legs. */
export const DAEMON_SOFTWARE = `OpenCloudHSM/${VERSION} daemon`;
