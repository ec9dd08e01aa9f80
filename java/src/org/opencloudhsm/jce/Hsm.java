package org.opencloudhsm.jce;

import java.io.IOException;
import java.io.InputStream;
import java.util.Properties;
import java.util.Set;
import java.util.UUID;

import com.cavium.cfm2.CFM2Exception;

/**
 * The provider's one link to the HSM, shared by every thread of the JVM: the
 * connection to the daemon (made on first use, made again after it is lost),
 * the sign-in (explicit through LoginManager, or implicit from the
 * credentials of the environment), the PKCS#11 session that session keys
 * belong to, and the retry of requests whose connection was lost.
 *
 * No policy here: requests go to the HSM as the application asked, and the
 * HSM's answer (its CK_RV and message) comes back as a CFM2Exception.
 */
public final class Hsm {
    private static final Hsm INSTANCE = new Hsm();

    public static Hsm get() {
        return INSTANCE;
    }

    /* Per attempt; RSA-4096 generation takes seconds. */
    static final long TIMEOUT_MS = Long.getLong("com.cavium.timeoutMs", 60_000);
    static final long CONNECT_TIMEOUT_MS = 5_000;
    /* Five attempts as the JCE lineage's retry runner makes; backoff 200, 400, 800, 1600 ms; nothing new after 15 s. */
    static final int ATTEMPTS = 5;
    static final long BACKOFF_MS = 200, DEADLINE_MS = 15_000;

    /** Credentials kept in memory (never written anywhere) to sign in again on a new connection. */
    static final class Creds {
        final String partition, user;
        final char[] password;
        final boolean explicit;
        final String source;

        Creds(String partition, String user, char[] password, boolean explicit, String source) {
            this.partition = partition;
            this.user = user;
            this.password = password;
            this.explicit = explicit;
            this.source = source;
        }
    }

    private final Object lock = new Object();
    private Connection conn;
    private long epoch;
    private long session;
    private volatile Creds held;
    private volatile String signedInAs;
    private volatile String lastSignOut;
    private AppConfig cfg;

    /** The operations that need no sign-in (the rest trigger implicit sign-in first). */
    private static final Set<String> NO_SIGN_IN = Set.of("hello", "login", "logout", "loginStatus", "status", "getClusterInfo", "openSession",
            "closeSession", "digest", "mechanismList", "mechanismInfo");

    public AppConfig config() throws CFM2Exception {
        synchronized (lock) {
            if (cfg == null) {
                try {
                    cfg = AppConfig.find();
                } catch (AppConfig.ConfigException e) {
                    throw new CFM2Exception(CFM2Exception.RET_DAEMON_UNREACHABLE, e.notFound ? "ERR_NOT_FOUND" : "ERR_CONFIG", e.getMessage(), true, null);
                }
            }
            return cfg;
        }
    }

    /** The current connection epoch: a session key made now belongs to it. */
    public long epoch() {
        synchronized (lock) {
            return epoch;
        }
    }

    /* ───────────── connection ───────────── */

    private static final class Link {
        final Connection c;
        final long epoch;
        final long session;

        Link(Connection c, long epoch, long session) {
            this.c = c;
            this.epoch = epoch;
            this.session = session;
        }
    }

    private Link link() throws CFM2Exception {
        synchronized (lock) {
            if (conn != null && conn.isOpen()) return new Link(conn, epoch, session);
            AppConfig c = config();
            Connection nc;
            try {
                nc = Connection.open(c, CONNECT_TIMEOUT_MS, this::onLoginChanged);
            } catch (IOException e) {
                throw new CFM2Exception(CFM2Exception.RET_DAEMON_UNREACHABLE, "ERR_DEVICE_ERROR",
                        "daemon socket connection error: cannot connect to azcloudhsm_client at " + c.endpoint() + " (" + e.getMessage()
                                + "); is the daemon running? (" + c.path + ")",
                        true, e);
            } catch (Connection.Lost | Connection.Timeout e) {
                throw new CFM2Exception(CFM2Exception.RET_DAEMON_UNREACHABLE, "ERR_DEVICE_ERROR",
                        "daemon socket connection error: " + e.getMessage(), true, e);
            }
            boolean reconnect = epoch > 0;
            try {
                Creds h = held;
                if (h != null) {
                    try {
                        nc.call("login", Msg.of("user", h.user, "password", new String(h.password), "role", "CU"), TIMEOUT_MS);
                        signedInAs = h.user;
                    } catch (CFM2Exception e) {
                        /* A password changed or an account locked since: never try again by ourselves. */
                        if ("ERR_LOGIN_FAILED".equals(e.getCode()) || "ERR_ACCOUNT_LOCKED".equals(e.getCode())) held = null;
                        signedInAs = null;
                        lastSignOut = "signing in again after reconnecting failed: " + e.getMessage();
                    }
                }
                long s = nc.call("openSession", Msg.of("flags", 6L), TIMEOUT_MS).num("session");
                conn = nc;
                epoch++;
                session = s;
                if (reconnect && System.getProperty("com.cavium.debug") != null) System.err.println("cavium: reconnected to the daemon, epoch " + epoch);
                return new Link(nc, epoch, s);
            } catch (Connection.Lost | Connection.Timeout e) {
                nc.close();
                throw new CFM2Exception(CFM2Exception.RET_CLIENT_DISCONNECTED, "ERR_DEVICE_ERROR", "daemon socket connection error: " + e.getMessage(), true, e);
            } catch (CFM2Exception e) {
                nc.close();
                throw e;
            }
        }
    }

    private void onLoginChanged(Msg n) {
        if (n.bool("loggedIn")) return;
        Creds h = held;
        if (h != null && !h.explicit) return; /* implicit credentials sign in again when needed */
        if (h != null || signedInAs != null) lastSignOut = "another application on this host signed out (HOST session mode signs the whole host out)";
        held = null;
        signedInAs = null;
    }

    /* ───────────── requests ───────────── */

    /** A request in the shared session, with sign-in and retry. */
    public Msg call(String op, Msg req) throws CFM2Exception {
        return call(op, req, 0);
    }

    /**
     * keyEpoch: the epoch of the session key the request uses (0: none). A request
     * with a session key of a connection that is gone fails: the key went with it.
     */
    public Msg call(String op, Msg req, long keyEpoch) throws CFM2Exception {
        Schema.Op spec = Schema.op(op);
        if (!NO_SIGN_IN.contains(op)) implicitSignIn();
        boolean wantsSession = spec.request.byName("session") != null && !req.has("session");
        if (spec.mutating && !req.has("requestId")) req.put("requestId", UUID.randomUUID().toString());
        long start = System.nanoTime();
        CFM2Exception last = null;
        for (int attempt = 0; attempt < ATTEMPTS; attempt++) {
            if (attempt > 0) {
                long waited = (System.nanoTime() - start) / 1_000_000;
                if (waited > DEADLINE_MS) break;
                sleep(BACKOFF_MS << (attempt - 1));
            }
            Link l;
            try {
                l = link();
            } catch (CFM2Exception e) {
                /* A missing or invalid cfg does not get better by waiting; a daemon that is restarting may. */
                if (!CFM2Exception.isClientDisconnectError(e) || "ERR_NOT_FOUND".equals(e.getCode()) || "ERR_CONFIG".equals(e.getCode())) throw e;
                last = e;
                continue;
            }
            if (keyEpoch != 0 && keyEpoch != l.epoch) {
                throw new CFM2Exception(CFM2Exception.RET_CLIENT_DISCONNECTED, "ERR_KEY_HANDLE_INVALID",
                        "the session key is lost: its session ended when the connection to the daemon was lost; sign in again and make the key again",
                        true, last);
            }
            Msg r = wantsSession ? req.put("session", l.session) : req;
            try {
                return l.c.call(op, r, TIMEOUT_MS);
            } catch (Connection.Lost e) {
                last = new CFM2Exception(CFM2Exception.RET_CLIENT_DISCONNECTED, "ERR_DEVICE_ERROR", "daemon socket connection error: " + e.getMessage(), true, e);
            } catch (Connection.Timeout e) {
                throw new CFM2Exception(CFM2Exception.RET_CLIENT_DISCONNECTED, "ERR_DEVICE_ERROR", e.getMessage(), true, e);
            } catch (CFM2Exception e) {
                throw refine(e);
            }
        }
        throw last;
    }

    private CFM2Exception refine(CFM2Exception e) {
        if ("ERR_USER_NOT_LOGGED_IN".equals(e.getCode())) {
            String why = lastSignOut;
            return new CFM2Exception(e.getStatus(), e.getCode(),
                    "could not find credentials to log in to the HSM: call LoginManager.getInstance().login(partition, user, password), "
                            + "or set HSM_PARTITION, HSM_USER and HSM_PASSWORD" + (why != null ? " (the sign-in ended: " + why + ")" : ""),
                    false, e);
        }
        return e;
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /* ───────────── sign-in ───────────── */

    public void login(String partition, String user, char[] password) throws CFM2Exception {
        if (partition == null || partition.isEmpty() || user == null || user.isEmpty() || password == null || password.length == 0) {
            throw new CFM2Exception(CFM2Exception.RET_ARGUMENTS_BAD, "ERR_ARGUMENTS_BAD", "login: partition, user and password must be non-empty");
        }
        Creds h = held;
        if (h != null && h.explicit && signedInAs != null) {
            throw new CFM2Exception(CFM2Exception.RET_USER_ALREADY_LOGGED_IN, "ERR_USER_ALREADY_LOGGED_IN",
                    "already logged in as " + h.user + "; call logout() first");
        }
        signIn(new Creds(partition, user, password.clone(), true, "explicit"));
    }

    private void signIn(Creds c) throws CFM2Exception {
        synchronized (lock) {
            try {
                call("login", Msg.of("user", c.user, "password", new String(c.password), "role", "CU"));
            } catch (CFM2Exception e) {
                if (CFM2Exception.isClientDisconnectError(e)) {
                    throw new CFM2Exception(e.getStatus(), e.getCode(), e.getMessage() + ", API login failed", true, e);
                }
                throw e;
            }
            held = c;
            signedInAs = c.user;
            lastSignOut = null;
        }
    }

    public void logout() throws CFM2Exception {
        Creds h = held;
        held = null;
        signedInAs = null;
        try {
            call("logout", new Msg());
            lastSignOut = "this application logged out";
        } catch (CFM2Exception e) {
            if ("ERR_USER_NOT_LOGGED_IN".equals(e.getCode()) && h != null) return;
            throw e;
        }
    }

    /** True when this JVM holds a sign-in of its own (explicit or implicit). */
    public boolean signedIn() {
        return held != null && signedInAs != null;
    }

    public String user() {
        return signedInAs;
    }

    /** The lineage's login(): sign in now with the implicit credentials. */
    public void loginImplicit() throws CFM2Exception {
        Creds c = implicitCredentials();
        if (c == null) {
            throw credErr("could not find credentials to log in to the HSM: set HSM_PARTITION, HSM_USER and HSM_PASSWORD "
                    + "(environment or system properties, or HsmCredentials.properties on the class path), or call login(partition, user, password)");
        }
        signIn(c);
    }

    private void implicitSignIn() throws CFM2Exception {
        if (held != null) return;
        Creds c = implicitCredentials();
        if (c == null) return;
        synchronized (lock) {
            if (held != null) return;
            signIn(c);
        }
    }

    /**
     * Implicit credentials, the JCE lineage's order (the first source present wins,
     * even when incomplete): HsmCredentials.properties on the class path, Java system
     * properties, then the environment; each with HSM_PARTITION, HSM_USER, HSM_PASSWORD.
     */
    static Creds implicitCredentials() throws CFM2Exception {
        Properties file = new Properties();
        ClassLoader cl = Thread.currentThread().getContextClassLoader();
        try (InputStream in = cl == null ? null : cl.getResourceAsStream("HsmCredentials.properties")) {
            if (in != null) file.load(in);
        } catch (IOException e) {
            throw new CFM2Exception(CFM2Exception.RET_ARGUMENTS_BAD, "ERR_ARGUMENTS_BAD", "cannot read HsmCredentials.properties: " + e.getMessage());
        }
        String[][] sources = new String[3][];
        sources[0] = new String[] {file.getProperty("HSM_PARTITION"), file.getProperty("HSM_USER"), file.getProperty("HSM_PASSWORD"), "HsmCredentials.properties"};
        sources[1] = new String[] {System.getProperty("HSM_PARTITION"), System.getProperty("HSM_USER"), System.getProperty("HSM_PASSWORD"), "system properties"};
        sources[2] = new String[] {System.getenv("HSM_PARTITION"), System.getenv("HSM_USER"), System.getenv("HSM_PASSWORD"), "environment"};
        for (String[] s : sources) {
            boolean any = present(s[1]) || present(s[2]);
            if (!any) continue;
            if (!present(s[1])) throw credErr("HSM_PASSWORD is set in the " + s[3] + " but HSM_USER is not: set both for implicit login (or neither)");
            if (!present(s[2])) throw credErr("HSM_USER is set in the " + s[3] + " but HSM_PASSWORD is not: set both for implicit login (or neither)");
            return new Creds(present(s[0]) ? s[0] : "PARTITION_1", s[1], s[2].toCharArray(), false, s[3]);
        }
        return null;
    }

    private static CFM2Exception credErr(String m) {
        return new CFM2Exception(CFM2Exception.RET_USER_NOT_LOGGED_IN, "ERR_USER_NOT_LOGGED_IN", m);
    }

    private static boolean present(String s) {
        return s != null && !s.isEmpty();
    }

    /** Close the connection (tests; the JVM's exit does the same). */
    public void disconnect() {
        synchronized (lock) {
            if (conn != null) conn.close();
        }
    }
}
