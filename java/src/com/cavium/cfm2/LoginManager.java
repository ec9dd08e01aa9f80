package com.cavium.cfm2;

import org.opencloudhsm.jce.Hsm;

/**
 * The process-wide sign-in of the provider: login(partition, user, password)
 * as a crypto user, logout() at the end. Without an explicit login, the first
 * operation that needs one signs in with the implicit credentials
 * (HsmCredentials.properties on the class path, Java system properties, then
 * the environment: HSM_PARTITION, HSM_USER, HSM_PASSWORD). The daemon's
 * host-wide sign-in rules apply as they are (docs/jce.md).
 */
public final class LoginManager {
    private static final LoginManager INSTANCE = new LoginManager();

    private LoginManager() {}

    public static LoginManager getInstance() {
        return INSTANCE;
    }

    /** Sign in as crypto user `user`; the partition name is kept for the guide's signature (a cluster serves one partition). */
    public void login(String partition, String user, String password) throws CFM2Exception {
        Hsm.get().login(partition, user, password == null ? null : password.toCharArray());
    }

    /** Sign in with the implicit credentials now (the lineage's no-argument login). */
    public void login() throws CFM2Exception {
        Hsm.get().loginImplicit();
    }

    /** Sign out. In the daemon's HOST session mode this signs the whole host out. */
    public void logout() throws CFM2Exception {
        Hsm.get().logout();
    }

    /** True when this JVM holds a sign-in of its own. */
    public boolean isLoggedIn() {
        return Hsm.get().signedIn();
    }
}
