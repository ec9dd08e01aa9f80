/*
 * trust.c: owner and mode checks of configuration files and the daemon socket
 * (ochsm_trust.h).
 */
#include "ochsm_trust.h"

#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Is gid this process's effective group or one of its supplementary groups? */
static int in_group(gid_t gid) {
    if (getegid() == gid) return 1;
    gid_t groups[256];
    int n = getgroups(256, groups);
    for (int i = 0; i < n; i++)
        if (groups[i] == gid) return 1;
    return 0;
}

int ochsm_trust_cfg(const struct stat *st, const char *path, ochsm_error *err) {
    uid_t me = geteuid();
    if (st->st_uid != me && st->st_uid != 0) {
        return ochsm_error_set(err, OCHSM_ERR_CONFIG,
                               "%.2000s: refusing this configuration file: it belongs to uid %u, not to this process's user (uid %u) "
                               "or root, so its owner could send this application's PIN to a socket of their own. Fix: if you "
                               "trust it, chown %u '%.2000s'; otherwise delete it, or run the application from another directory",
                               path, (unsigned)st->st_uid, (unsigned)me, (unsigned)me, path);
    }
    if (st->st_mode & (S_IWGRP | S_IWOTH)) {
        return ochsm_error_set(err, OCHSM_ERR_CONFIG,
                               "%.2000s: refusing this configuration file: it is writable by %s (mode %04o), so another user could "
                               "redirect this application's PIN. Fix: chmod go-w '%.2000s'",
                               path, (st->st_mode & S_IWOTH) ? "others" : "its group", (unsigned)(st->st_mode & 07777), path);
    }
    return OCHSM_OK;
}

int ochsm_trust_socket(const char *path, ochsm_error *err) {
    struct stat st;
    if (lstat(path, &st) != 0) return OCHSM_OK; /* connect() says what is missing */
    if (!S_ISSOCK(st.st_mode)) {
        return ochsm_error_set(err, OCHSM_ERR_CONFIG,
                               "refusing the client daemon socket %.2000s: it is not a socket%s. Fix: point SOCKET_PATH in "
                               "azcloudhsm_application.cfg at the socket azcloudhsm_client creates, and remove what is there",
                               path, S_ISLNK(st.st_mode) ? " but a symbolic link" : "");
    }
    uid_t me = geteuid();
    if (st.st_uid != me && st.st_uid != 0 && !(in_group(st.st_gid) && (st.st_mode & S_IWGRP))) {
        return ochsm_error_set(err, OCHSM_ERR_CONFIG,
                               "refusing the client daemon socket %.2000s: it belongs to uid %u, not to this process's user (uid %u) "
                               "or root, and it is not shared with a group of this process (gid %u, mode %04o), so it may not be "
                               "the daemon's. Fix: run azcloudhsm_client as root or as this user, or add this user to the "
                               "daemon's group (docs/daemon.md)",
                               path, (unsigned)st.st_uid, (unsigned)me, (unsigned)st.st_gid, (unsigned)(st.st_mode & 07777));
    }
    if (st.st_mode & S_IWOTH) {
        return ochsm_error_set(err, OCHSM_ERR_CONFIG,
                               "refusing the client daemon socket %.2000s: it is writable by others (mode %04o). Fix: restart "
                               "azcloudhsm_client, which creates it with mode 0660, or chmod o-w '%.2000s'",
                               path, (unsigned)(st.st_mode & 07777), path);
    }
    /* Its directory: whoever may write there may replace the socket. */
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == NULL) snprintf(dir, sizeof dir, ".");
    else if (slash == dir) slash[1] = '\0';
    else *slash = '\0';
    struct stat ds;
    if (stat(dir, &ds) == 0 && (ds.st_mode & S_IWOTH) && !(ds.st_mode & S_ISVTX)) {
        return ochsm_error_set(err, OCHSM_ERR_CONFIG,
                               "refusing the client daemon socket %.2000s: its directory %.1000s is writable by others (mode %04o), "
                               "so anyone could replace the socket. Fix: chmod o-w '%.1000s', or set SOCKET_PATH to a path in a "
                               "private directory",
                               path, dir, (unsigned)(ds.st_mode & 07777), dir);
    }
    return OCHSM_OK;
}
