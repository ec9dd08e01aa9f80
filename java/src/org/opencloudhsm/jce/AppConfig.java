package org.opencloudhsm.jce;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * azcloudhsm_application.cfg, read with the rules of
 * docs/config-format.md (the vectors of test-vectors/cfg/application.json, which the TypeScript
 * and C parsers pass too), and found as
 * the C module finds it (test-vectors/cfg/lookup.json), with the provider jar's
 * folder in place of the executable's folder (the guide puts the cfg next to the
 * jar): the working directory, the jar's folder, $AZCLOUDHSM_APPLICATION_CFG (a
 * file, or a folder holding it), then /opt/azurecloudhsm/bin. The first that
 * exists is read; an invalid one is the error (no fall-through).
 */
public final class AppConfig {
    public static final String FILE = "azcloudhsm_application.cfg";
    public static final String ENV = "AZCLOUDHSM_APPLICATION_CFG";
    static final int SOCKET_PATH_MAX = 107;
    static final int MAX_FILE_BYTES = 1024 * 1024;

    public String path;
    public long daemonId = 1;
    public boolean tcp;
    public int port = 1111;
    public String socketPath;
    public Long userKekHandle;
    public boolean applicationMode;

    /** A cfg that is missing (code ERR_NOT_FOUND) or invalid (ERR_CONFIG); the message says which and where. */
    public static final class ConfigException extends Exception {
        private static final long serialVersionUID = 1L;
        public final boolean notFound;

        ConfigException(boolean notFound, String message) {
            super(message);
            this.notFound = notFound;
        }
    }

    static boolean isSpace(char c) {
        return c == ' ' || c == '\t' || c == '\r' || c == '\u000b' || c == '\f';
    }

    static String trim(String s) {
        int a = 0, b = s.length();
        while (a < b && isSpace(s.charAt(a))) a++;
        while (b > a && isSpace(s.charAt(b - 1))) b--;
        return s.substring(a, b);
    }

    static String show(String s) {
        StringBuilder b = new StringBuilder("\"");
        for (int i = 0; i < s.length(); i++) {
            if (i >= 57) {
                b.append("...");
                break;
            }
            char c = s.charAt(i);
            if (c < 0x20 || c == 0x7f) b.append(String.format("\\x%02x", (int) c));
            else if (c == '"' || c == '\\') b.append('\\').append(c);
            else b.append(c);
        }
        return b.append('"').toString();
    }

    static Long whole(String s, long min, long max) {
        if (!s.matches("[0-9]{1,16}")) return null;
        long v = Long.parseLong(s);
        return v < min || v > max ? null : v;
    }

    static final String[] KEYS = {"DAEMON_ID", "SOCKET_TYPE", "PORT", "SOCKET_PATH", "USER_KEK_HANDLE", "SESSION_MODE"};

    public static AppConfig parse(String text, String path) throws ConfigException {
        AppConfig c = new AppConfig();
        Path abs = Paths.get(path).toAbsolutePath().normalize();
        c.path = abs.toString();
        Path dir = abs.getParent() != null ? abs.getParent() : abs;
        String P = c.path;
        Map<String, Integer> seen = new HashMap<>();
        if (text.startsWith("\ufeff")) text = text.substring(1);
        String[] lines = text.split("\n", -1);
        for (int n = 0; n < lines.length; n++) {
            int lineNo = n + 1;
            String line = trim(lines[n]);
            if (line.isEmpty() || line.charAt(0) == '#') continue;
            int eq = line.indexOf('=');
            if (eq < 0) throw new ConfigException(false, P + ":" + lineNo + ": expected KEY=VALUE, got " + show(line));
            String key = trim(line.substring(0, eq)), value = trim(line.substring(eq + 1));
            boolean known = false;
            for (String k : KEYS) known |= k.equals(key);
            if (!known) continue; /* unknown keys are ignored, so that a newer file still loads */
            if (seen.containsKey(key)) throw new ConfigException(false, P + ":" + lineNo + ": " + key + " is already set on line " + seen.get(key));
            seen.put(key, lineNo);
            if (value.isEmpty()) throw new ConfigException(false, P + ":" + lineNo + ": " + key + " has no value");
            String at = P + ":" + lineNo + ": ";
            String up = value.toUpperCase(Locale.ROOT);
            switch (key) {
                case "DAEMON_ID": {
                    Long v = whole(value, 0, 0x7fffffffL);
                    if (v == null) throw new ConfigException(false, at + "DAEMON_ID must be a whole number from 0 to 2147483647 (got " + show(value) + ")");
                    c.daemonId = v;
                    break;
                }
                case "SOCKET_TYPE":
                    if (up.equals("UNIXSOCKET")) c.tcp = false;
                    else if (up.equals("TCPSOCKET")) c.tcp = true;
                    else throw new ConfigException(false, at + "SOCKET_TYPE must be UNIXSOCKET or TCPSOCKET (got " + show(value) + ")");
                    break;
                case "PORT": {
                    Long v = whole(value, 1, 65535);
                    if (v == null) throw new ConfigException(false, at + "PORT must be a TCP port from 1 to 65535 (got " + show(value) + ")");
                    c.port = (int) (long) v;
                    break;
                }
                case "SOCKET_PATH": {
                    if (value.indexOf('\0') >= 0) throw new ConfigException(false, at + "SOCKET_PATH contains a NUL character");
                    String r = dir.resolve(value).normalize().toString();
                    if (r.getBytes(StandardCharsets.UTF_8).length > SOCKET_PATH_MAX) {
                        throw new ConfigException(false, at + "SOCKET_PATH " + show(value) + " is longer than " + SOCKET_PATH_MAX + " bytes, the limit for a Unix socket path");
                    }
                    c.socketPath = r;
                    break;
                }
                case "USER_KEK_HANDLE": {
                    Long v = whole(value, 1, (1L << 53) - 1);
                    if (v == null) throw new ConfigException(false, at + "USER_KEK_HANDLE must be a key handle, a whole number such as 262150 (got " + show(value) + ")");
                    c.userKekHandle = v;
                    break;
                }
                case "SESSION_MODE":
                    if (up.equals("HOST")) c.applicationMode = false;
                    else if (up.equals("APPLICATION")) c.applicationMode = true;
                    else throw new ConfigException(false, at + "SESSION_MODE must be HOST or APPLICATION (got " + show(value) + ")");
                    break;
                default:
                    break;
            }
        }
        if (c.socketPath == null) {
            String r = dir.resolve("../run/azcloudhsm_client.sock").normalize().toString();
            if (r.getBytes(StandardCharsets.UTF_8).length > SOCKET_PATH_MAX) {
                if (!c.tcp) {
                    throw new ConfigException(false, P + ": the default socket path (" + dir + "/../run/azcloudhsm_client.sock) is longer than "
                            + SOCKET_PATH_MAX + " bytes; set SOCKET_PATH to a shorter path");
                }
            } else {
                c.socketPath = r;
            }
        }
        return c;
    }

    public static AppConfig load(Path p) throws ConfigException {
        try {
            if (Files.isDirectory(p)) throw new ConfigException(false, p + ": cannot read the configuration file: is a directory");
            if (Files.size(p) > MAX_FILE_BYTES) {
                throw new ConfigException(false, p + ": the file is larger than " + MAX_FILE_BYTES + " bytes; it is not an application cfg");
            }
            byte[] b = Files.readAllBytes(p);
            return parse(new String(b, StandardCharsets.UTF_8), p.toString());
        } catch (NoSuchFileException e) {
            throw new ConfigException(true, p + ": cannot read the configuration file: file not found");
        } catch (AccessDeniedException e) {
            throw new ConfigException(false, p + ": cannot read the configuration file: permission denied");
        } catch (IOException e) {
            throw new ConfigException(false, p + ": cannot read the configuration file: " + e.getMessage());
        }
    }

    /** The folder of the jar (or class directory) this class was loaded from, or null. */
    static String jarDir() {
        try {
            java.security.CodeSource cs = AppConfig.class.getProtectionDomain().getCodeSource();
            if (cs == null || cs.getLocation() == null) return null;
            Path p = Paths.get(cs.getLocation().toURI());
            return Files.isDirectory(p) ? p.toString() : p.getParent().toString();
        } catch (Exception e) {
            return null;
        }
    }

    public static AppConfig find() throws ConfigException {
        return findIn(System.getProperty("user.dir"), jarDir(), System.getenv(ENV));
    }

    /** The product's own folder, the fourth place (services whose working directory is /). */
    public static final String PRODUCT_DIR = "/opt/azurecloudhsm/bin";

    /** What is at a path, for {@link #lookup}. */
    enum Kind { MISSING, FILE, DIR }

    static Kind fsKind(String p) {
        Path path = Paths.get(p);
        return Files.isDirectory(path) ? Kind.DIR : Files.exists(path) ? Kind.FILE : Kind.MISSING;
    }

    public static AppConfig findIn(String cwd, String jarDir, String envPath) throws ConfigException {
        return load(Paths.get(lookup(cwd, jarDir, envPath, PRODUCT_DIR + "/" + FILE, AppConfig::fsKind)));
    }

    /**
     * The lookup rule alone (docs/config-format.md "Lookup", test-vectors/cfg/lookup.json, as the C
     * module's ochsm_appcfg_lookup): the path to read, or the one "not found" message listing every
     * place. The provider jar's folder stands for the executable's folder.
     */
    static String lookup(String cwd, String jarDir, String envPath, String productPath, java.util.function.Function<String, Kind> kind)
            throws ConfigException {
        String[] what = {"working directory", "executable's folder", "$" + ENV, "the product's folder"};
        String[] cand = new String[4];
        if (cwd != null && !cwd.isEmpty()) cand[0] = Paths.get(cwd).resolve(FILE).normalize().toString();
        if (jarDir != null && !jarDir.isEmpty()) cand[1] = Paths.get(jarDir).resolve(FILE).normalize().toString();
        if (envPath != null && !envPath.isEmpty()) {
            cand[2] = Paths.get(cwd != null && cwd.startsWith("/") ? cwd : "/").resolve(envPath).normalize().toString();
            if (kind.apply(cand[2]) == Kind.DIR) cand[2] = Paths.get(cand[2]).resolve(FILE).toString();
        }
        cand[3] = productPath;
        List<String> tried = new ArrayList<>();
        for (int i = 0; i < cand.length; i++) {
            if (cand[i] == null) {
                tried.add(what[i] + (i == 2 ? " not set" : " unknown"));
                continue;
            }
            boolean dup = false;
            for (int j = 0; j < i; j++) dup |= cand[i].equals(cand[j]);
            if (dup) {
                tried.add(what[i] + ": the same path");
                continue;
            }
            if (kind.apply(cand[i]) != Kind.MISSING) return cand[i];
            tried.add(cand[i] + " (" + what[i] + ")");
        }
        throw new ConfigException(true, FILE + " is not present (Cannot find file). Tried: " + String.join("; ", tried)
                + ". Put it in " + PRODUCT_DIR + " or next to the application, or set " + ENV + " to its path");
    }

    public String endpoint() {
        return tcp ? "127.0.0.1:" + port : socketPath;
    }
}
