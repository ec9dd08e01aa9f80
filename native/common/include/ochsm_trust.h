/*
 * ochsm_trust.h: may this process trust a configuration file or a daemon
 * socket it is about to use? A library that runs as root (or as any user) in
 * someone else's working directory must not read their planted
 * azcloudhsm_application.cfg, nor send a PIN to a socket they own.
 *
 *   configuration file: owned by this process's effective user or by root, and
 *     not writable by its group or by others;
 *   daemon socket (Unix): a socket, owned by this process's effective user or
 *     by root, or else owned by another user with a group that this process is
 *     in and group write set (the daemon's documented way to let applications
 *     in: docs/daemon.md, the socket is created 0660); never writable by
 *     others; its directory not writable by others unless sticky.
 *
 * Each refusal is OCHSM_ERR_CONFIG with a message that names the file, what
 * is wrong and the command that fixes it. No global state.
 */
#ifndef OCHSM_TRUST_H
#define OCHSM_TRUST_H

#include <sys/stat.h>

#include "ochsm_wire.h"

#ifdef __cplusplus
extern "C" {
#endif

/* st: fstat of the opened file; path: its name for the message. */
int ochsm_trust_cfg(const struct stat *st, const char *path, ochsm_error *err);

/* lstat and check a daemon socket path (and its directory). A path that does
 * not exist passes (connect then reports that the daemon is not running). */
int ochsm_trust_socket(const char *path, ochsm_error *err);

#ifdef __cplusplus
}
#endif

#endif /* OCHSM_TRUST_H */
