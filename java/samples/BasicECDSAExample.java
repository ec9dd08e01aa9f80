import java.security.KeyFactory;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.Security;
import java.security.Signature;
import java.security.spec.X509EncodedKeySpec;

import com.cavium.cfm2.LoginManager;
import com.cavium.key.parameter.CaviumECGenParameterSpec;
import com.cavium.provider.CaviumProvider;

/** SHA256withECDSA on secp256k1 (the guide's sample) and on P-256 (verified by SunEC too); a tampered message fails. */
public class BasicECDSAExample {
    public static void main(String[] args) throws Exception {
        Security.addProvider(new CaviumProvider());
        LoginManager lm = LoginManager.getInstance();
        lm.login("PARTITION_1", "cu1", "user1234");
        try {
            for (String curve : new String[] {"secp256k1", "secp256r1", "secp384r1"}) {
                KeyPairGenerator kpg = KeyPairGenerator.getInstance("EC", "Cavium");
                kpg.initialize(new CaviumECGenParameterSpec(curve, "ecdsa-pub", "ecdsa-priv", true, false));
                KeyPair kp = kpg.generateKeyPair();
                Signature sig = Signature.getInstance("SHA256withECDSA", "Cavium");
                sig.initSign(kp.getPrivate());
                sig.update("abc".getBytes());
                byte[] s = sig.sign();
                sig.initVerify(kp.getPublic());
                sig.update("abc".getBytes());
                if (!sig.verify(s)) throw new AssertionError(curve + ": verification succeeds");
                sig.initVerify(kp.getPublic());
                sig.update("abd".getBytes());
                if (sig.verify(s)) throw new AssertionError(curve + ": a changed message fails");
                if (!curve.equals("secp256k1")) {
                    Signature sun = Signature.getInstance("SHA256withECDSA", "SunEC");
                    sun.initVerify(KeyFactory.getInstance("EC", "SunEC").generatePublic(new X509EncodedKeySpec(kp.getPublic().getEncoded())));
                    sun.update("abc".getBytes());
                    if (!sun.verify(s)) throw new AssertionError(curve + ": SunEC verifies the HSM's DER signature");
                }
                System.out.println(curve + ": signature verified");
            }
        } finally {
            lm.logout();
        }
    }
}
