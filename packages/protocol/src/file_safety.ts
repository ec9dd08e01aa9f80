/**
 * @module The one home of the file rules every local part follows
 * (docs/security.md "Files"): configuration files and the daemon's socket are
 * trusted only when the running user or root owns them and nobody else can
 * write them; key files are created new, owner-only, never through a link.
 *
 * Every refusal names the file and the fix. Only Node built-ins: the daemon,
 * the CLIs and the SDK all import this.
 */
import { closeSync, constants, fchmodSync, fstatSync, lstatSync, openSync, readSync, statSync, writeSync, type Stats } from 'node:fs';
import { dirname } from 'node:path';

export class UnsafeFileError extends Error {
  override readonly name = 'UnsafeFileError';
  readonly path: string;
  constructor(path: string, message: string) {
    super(message);
    this.path = path;
  }
}

const uid = (): number | undefined => process.getuid?.();
const octal = (mode: number) => '0' + (mode & 0o7777).toString(8).padStart(3, '0');

/** Why a file with these stats may not be trusted by this process, or undefined. */
export function untrustedReason(path: string, st: Stats, what: string): string | undefined {
  const me = uid();
  if (me === undefined) return undefined; /* no POSIX owners on this platform */
  if (st.uid !== me && st.uid !== 0) {
    return `refusing ${what} ${path}: it is owned by uid ${st.uid}, not by you (uid ${me}) or root; anyone else could have written it (fix: chown ${me} ${path}, or use your own copy)`;
  }
  if (st.mode & 0o022) {
    return `refusing ${what} ${path}: it is writable by ${st.mode & 0o002 ? 'every user' : 'its group'} (mode ${octal(st.mode)}) (fix: chmod go-w ${path})`;
  }
  return undefined;
}

/**
 * Read a configuration file, checking the file that was opened (fstat), so a
 * swap between the check and the read does not matter. Throws ENOENT and other
 * read errors as they are; UnsafeFileError when the file is not trustworthy.
 */
export function readTrustedFile(path: string, what = 'configuration file', maxBytes = 1 << 20): string {
  const fd = openSync(path, constants.O_RDONLY);
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new UnsafeFileError(path, `refusing ${what} ${path}: it is not a regular file`);
    const why = untrustedReason(path, st, what);
    if (why) throw new UnsafeFileError(path, why);
    const buf = Buffer.alloc(Math.min(st.size, maxBytes) + 1);
    let n = 0;
    for (;;) {
      const got = readSync(fd, buf, n, buf.length - n, null);
      if (got === 0) break;
      n += got;
      if (n > maxBytes) throw new UnsafeFileError(path, `refusing ${what} ${path}: it is larger than ${maxBytes} bytes`);
      if (n === buf.length) break;
    }
    return buf.subarray(0, n).toString('utf8');
  } finally {
    closeSync(fd);
  }
}

/**
 * Before connecting to the daemon's Unix socket: it must be a socket, and
 * either owned by you or root, or in a directory that only you or root can
 * change (a daemon running as its own user, with applications in its group).
 */
export function checkDaemonSocket(path: string): void {
  let st: Stats;
  try {
    st = lstatSync(path);
  } catch {
    return; /* absent: connecting reports it */
  }
  if (!st.isSocket()) throw new UnsafeFileError(path, `refusing the daemon socket ${path}: it is not a socket (fix: point SOCKET_PATH in azcloudhsm_application.cfg at the daemon's socket)`);
  const me = uid();
  if (me === undefined || st.uid === me || st.uid === 0) return;
  const dir = dirname(path);
  const d = statSync(dir);
  if ((d.uid === me || d.uid === 0) && (d.mode & 0o022) === 0) return;
  throw new UnsafeFileError(path, `refusing the daemon socket ${path}: it is owned by uid ${st.uid}, not by you (uid ${me}) or root, and its directory ${dir} is not yours or root's alone; a password sent there could go to anyone (fix: use a daemon socket in a directory owned by you or root and not writable by others)`);
}

/**
 * Create a new file owner-only (0600) and write `data`: never replaces a
 * file, never follows a symbolic link (O_CREAT|O_EXCL|O_NOFOLLOW).
 */
export function writeNewPrivateFile(path: string, data: Uint8Array | string): void {
  let fd: number;
  try {
    fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw new UnsafeFileError(path, `${path} already exists; a key file is always created new, so remove it or choose another name`);
    throw e;
  }
  try {
    fchmodSync(fd, 0o600);
    const b = typeof data === 'string' ? Buffer.from(data) : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    let off = 0;
    while (off < b.length) off += writeSync(fd, b, off, b.length - off);
  } finally {
    closeSync(fd);
  }
}

/** Write a non-secret output file (replacing one), never through a symbolic link. */
export function writePublicFile(path: string, data: Uint8Array | string, mode = 0o644): void {
  let fd: number;
  try {
    fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW, mode);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ELOOP') throw new UnsafeFileError(path, `${path} is a symbolic link; refusing to write through it`);
    throw e;
  }
  try {
    const b = typeof data === 'string' ? Buffer.from(data) : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    let off = 0;
    while (off < b.length) off += writeSync(fd, b, off, b.length - off);
  } finally {
    closeSync(fd);
  }
}
