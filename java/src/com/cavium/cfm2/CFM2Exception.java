package com.cavium.cfm2;

/**
 * A failure reported by the HSM, the client daemon or the provider's link to
 * it. {@link #getStatus()} is the status code: the PKCS#11 return value
 * (CK_RV) that the HSM answered (for example 0xA3 for a failed login, 0x60 for
 * an unknown key handle), or, for failures on the way to the HSM,
 * {@link #RET_DAEMON_UNREACHABLE} (the daemon's socket cannot be reached, or
 * azcloudhsm_application.cfg is missing or invalid) and
 * {@link #RET_CLIENT_DISCONNECTED} (the connection to the daemon was lost and
 * could not be made again in time). {@link #getCode()} is the project's stable
 * error code (ERR_LOGIN_FAILED, ...). Messages never contain key material or
 * passwords.
 */
public class CFM2Exception extends Exception {
    private static final long serialVersionUID = 1L;

    /** Success. */
    public static final int RET_OK = 0x0;
    /** CKR_GENERAL_ERROR: the daemon cannot be reached, or its cfg is missing or invalid (as the PKCS#11 module's C_Initialize). */
    public static final int RET_DAEMON_UNREACHABLE = 0x5;
    /** CKR_ARGUMENTS_BAD: a request the provider could not encode. */
    public static final int RET_ARGUMENTS_BAD = 0x7;
    /** CKR_DEVICE_ERROR: the connection to the daemon was lost, or a session key's session ended with it. */
    public static final int RET_CLIENT_DISCONNECTED = 0x30;
    /** CKR_KEY_HANDLE_INVALID. */
    public static final int RET_KEY_HANDLE_INVALID = 0x60;
    /** CKR_PIN_EXPIRED: the Azure HSM's answer to a wrong user name or password. */
    public static final int RET_USER_LOGIN_FAILURE = 0xA3;
    /** CKR_PIN_LOCKED: the account is locked after too many failed logins. */
    public static final int RET_ACCOUNT_LOCKED = 0xA4;
    /** CKR_USER_ALREADY_LOGGED_IN. */
    public static final int RET_USER_ALREADY_LOGGED_IN = 0x100;
    /** CKR_USER_NOT_LOGGED_IN: no sign-in, and no credentials to sign in with. */
    public static final int RET_USER_NOT_LOGGED_IN = 0x101;
    /** CKR_USER_ANOTHER_ALREADY_LOGGED_IN: the host is signed in as another user (HOST session mode). */
    public static final int RET_ANOTHER_USER_LOGGED_IN = 0x104;
    /** The lineage's cluster error (back off, do not reconnect); this provider never raises it itself. */
    public static final int RET_CLUSTER_ERROR = 0x30000088;

    private final int status;
    private final String code;
    private final boolean disconnect;

    public CFM2Exception(long status, String code, String message) {
        this(status, code, message, false, null);
    }

    public CFM2Exception(long status, String code, String message, boolean disconnect, Throwable cause) {
        super(message, cause);
        this.status = (int) status;
        this.code = code;
        this.disconnect = disconnect;
    }

    public int getStatus() {
        return status;
    }

    /** The stable error code (ERR_*) of the project's error table. */
    public String getCode() {
        return code;
    }

    @Override
    public String toString() {
        return "CFM2Exception: " + getMessage() + String.format(" (status 0x%x, %s)", status, code);
    }

    private static CFM2Exception find(Throwable t) {
        for (int i = 0; t != null && i < 16; i++, t = t.getCause()) if (t instanceof CFM2Exception) return (CFM2Exception) t;
        return null;
    }

    /** True when t (or a cause) is a failed, missing or conflicting sign-in. */
    public static boolean isAuthenticationFailure(Throwable t) {
        CFM2Exception e = find(t);
        if (e == null) return false;
        int s = e.status;
        return s == RET_USER_LOGIN_FAILURE || s == RET_ACCOUNT_LOCKED || s == RET_USER_NOT_LOGGED_IN || s == RET_ANOTHER_USER_LOGGED_IN;
    }

    /** True when t (or a cause) is a lost or unreachable daemon connection: log in again, make session keys again. */
    public static boolean isClientDisconnectError(Throwable t) {
        CFM2Exception e = find(t);
        return e != null && e.disconnect;
    }
}
