/**
 * @module The sealing-key file on disk: create it owner-only, load it only if it is still owner-only.
 *
 * Trust boundary: the file holds the masking key in the clear (its format is
 * hsm-core/src/barrier/sealing_key.ts, docs/storage-format.md §6). Anyone who
 * can read it can unmask the whole store, so this module refuses to use a
 * file that a group or other users can access, and never overwrites one.
 * Error messages name the path and the mode, never the content.
 */
import { closeSync, constants, fstatSync, fsyncSync, openSync, readSync, unlinkSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { dirname } from 'node:path';
import { HsmError } from '../../protocol/src/errors.js';
import { formatSealingKey, parseSealingKey } from '../../hsm-core/src/barrier/sealing_key.js';

/** Far more than the ~86 bytes of a v1 file; anything bigger is not a sealing key. */
const MAX_FILE_BYTES = 4096;

function octal(mode: number): string {
  return '0' + (mode & 0o777).toString(8).padStart(3, '0');
}

function fail(message: string, cause?: unknown): HsmError {
  return new HsmError('ERR_BARRIER', message, cause === undefined ? undefined : { cause });
}

function describe(e: unknown): string {
  const code = (e as NodeJS.ErrnoException)?.code;
  if (code === 'ENOENT') return 'does not exist';
  if (code === 'EACCES' || code === 'EPERM') return 'is not accessible: permission denied';
  if (code === 'EEXIST') return 'already exists; refusing to overwrite it';
  return `cannot be used: ${(e as Error)?.message ?? String(e)}`;
}

/**
 * Create a new sealing-key file holding 32 fresh random bytes, with mode 0600,
 * refusing to replace an existing file. Returns the key.
 */
export function createSealingKeyFile(path: string): Buffer {
  const key = randomBytes(32);
  writeSealingKeyFile(path, key);
  return key;
}

/**
 * Write `key` (the masking key a joining node received, docs/deployment.md §5)
 * as a new sealing-key file, mode 0600. O_CREAT|O_EXCL|O_NOFOLLOW: an existing
 * key, a planted file or a symbolic link is never written through or clobbered.
 */
export function writeSealingKeyFile(path: string, key: Uint8Array): void {
  const content = Buffer.from(formatSealingKey(Buffer.from(key)), 'utf8');
  let fd: number;
  try {
    fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  } catch (e) {
    content.fill(0);
    throw fail(`sealing key file ${path} ${describe(e)}`, e);
  }
  try {
    let off = 0;
    while (off < content.length) off += writeSync(fd, content, off, content.length - off);
    /* The key must be on disk before anything is masked with it. */
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    try {
      unlinkSync(path);
    } catch {
      /* best effort: the half-written file is useless either way */
    }
    throw fail(`cannot write sealing key file ${path}: ${(e as Error)?.message ?? String(e)}`, e);
  } finally {
    content.fill(0);
  }
  closeSync(fd);
  syncDirectory(dirname(path));
}

/** Make the new directory entry durable too (POSIX needs an fsync of the directory). */
function syncDirectory(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, constants.O_RDONLY);
    fsyncSync(fd);
  } catch {
    /* Some platforms and file systems cannot fsync a directory; the file itself is synced. */
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * Read the masking key from a sealing-key file. Refuses a file that group or
 * others can access in any way, anything that is not a regular file, and any
 * content not exactly in the v1 format.
 */
export function loadSealingKeyFile(path: string): Buffer {
  let fd: number;
  try {
    /* O_NOFOLLOW: a symbolic link (someone else's file, or one that moves) is never the key. */
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (e) {
    if ((e as NodeJS.ErrnoException)?.code === 'ELOOP') throw fail(`sealing key file ${path} is a symbolic link; it must be the key file itself (replace the link with the file it points to, mode 0600)`, e);
    throw fail(`sealing key file ${path} ${describe(e)}`, e);
  }
  const buf = Buffer.alloc(MAX_FILE_BYTES + 1);
  try {
    /* Check the mode of what was opened (fstat), not of what the path names a moment later. */
    const st = fstatSync(fd);
    if (!st.isFile()) throw fail(`sealing key file ${path} is not a regular file`);
    const me = process.getuid?.();
    if (me !== undefined && st.uid !== me) {
      throw fail(`sealing key file ${path} is owned by uid ${st.uid}, not by the user running this node (uid ${me}) (run: chown ${me} ${path})`);
    }
    if (st.mode & 0o077) {
      throw fail(`sealing key file ${path} has mode ${octal(st.mode)}; it must be readable by its owner only (run: chmod 600 ${path})`);
    }
    let n = 0;
    for (;;) {
      const got = readSync(fd, buf, n, buf.length - n, null);
      if (got === 0) break;
      n += got;
      if (n > MAX_FILE_BYTES) throw fail(`sealing key file ${path} is larger than ${MAX_FILE_BYTES} bytes; it is not a sealing key file`);
    }
    try {
      return parseSealingKey(buf.subarray(0, n).toString('utf8'));
    } catch (e) {
      throw fail(`sealing key file ${path}: ${(e as Error).message.replace(/^sealing key: /, '')}`, e);
    }
  } catch (e) {
    if (e instanceof HsmError) throw e;
    throw fail(`sealing key file ${path} ${describe(e)}`, e);
  } finally {
    buf.fill(0);
    closeSync(fd);
  }
}
