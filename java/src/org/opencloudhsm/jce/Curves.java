package org.opencloudhsm.jce;

import java.security.AlgorithmParameters;
import java.security.spec.ECGenParameterSpec;
import java.security.spec.ECParameterSpec;
import java.util.Locale;

/**
 * Curve names ↔ the DER of their OIDs (CKA_EC_PARAMS) ↔ Java's ECParameterSpec.
 * Translation only: which curves the HSM accepts is the HSM's answer.
 */
public final class Curves {
    private Curves() {}

    /* name, aliases..., OID DER hex */
    static final String[][] TABLE = {
        {"secp256r1", "prime256v1", "p-256", "nist p-256", "p256", "06082a8648ce3d030107"},
        {"secp384r1", "prime384v1", "p-384", "nist p-384", "p384", "06052b81040022"},
        {"secp521r1", "p-521", "nist p-521", "p521", "06052b81040023"},
        {"secp256k1", "06052b8104000a"},
        {"secp224r1", "p-224", "nist p-224", "06052b81040021"},
        {"secp192r1", "prime192v1", "p-192", "nist p-192", "06082a8648ce3d030101"},
    };

    public static final String X25519_OID = "06032b656e";

    /** The OID DER of a curve name, or null when the name is not known. */
    public static byte[] oidOf(String name) {
        if (name == null) return null;
        String n = name.trim().toLowerCase(Locale.ROOT);
        for (String[] row : TABLE) {
            for (int i = 0; i < row.length - 1; i++) if (row[i].equals(n)) return Wire.unhex(row[row.length - 1]);
        }
        return null;
    }

    public static String nameOf(byte[] oidDer) {
        String h = oidDer == null ? "" : Wire.hex(oidDer);
        for (String[] row : TABLE) if (row[row.length - 1].equals(h)) return row[0];
        return null;
    }

    public static ECParameterSpec spec(byte[] oidDer) {
        String n = nameOf(oidDer);
        if (n == null) return null;
        try {
            AlgorithmParameters p = AlgorithmParameters.getInstance("EC", "SunEC");
            p.init(new ECGenParameterSpec(n));
            return p.getParameterSpec(ECParameterSpec.class);
        } catch (Exception e) {
            return null;
        }
    }

    /** The OID of an ECParameterSpec (by field size, order and generator), or null. */
    public static byte[] oidOf(ECParameterSpec s) {
        for (String[] row : TABLE) {
            ECParameterSpec c = spec(Wire.unhex(row[row.length - 1]));
            if (c != null && c.getOrder().equals(s.getOrder()) && c.getGenerator().equals(s.getGenerator())
                    && c.getCurve().getField().getFieldSize() == s.getCurve().getField().getFieldSize()) {
                return Wire.unhex(row[row.length - 1]);
            }
        }
        return null;
    }
}
