import java.math.BigInteger;
import java.security.KeyFactory;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.PublicKey;
import java.security.Security;
import java.security.Signature;
import java.security.spec.MGF1ParameterSpec;
import java.security.spec.PSSParameterSpec;
import java.security.spec.X509EncodedKeySpec;

import com.cavium.cfm2.LoginManager;
import com.cavium.key.parameter.CaviumRSAKeyGenParameterSpec;
import com.cavium.provider.CaviumProvider;

/**
 * The guide's two BasicRSASignExample programs (SHA224withRSA, SHA256withRSAandMGF1) and its
 * PSS-spec sample (SHA256WithRSA/PSS with setParameter after initSign and initVerify), each
 * signature also verified by SunRsaSign.
 */
public class BasicRSASignExample {
    static byte[] sign(String alg, KeyPair kp, PSSParameterSpec spec, byte[] msg) throws Exception {
        Signature s = Signature.getInstance(alg, "Cavium");
        s.initSign(kp.getPrivate());
        if (spec != null) s.setParameter(spec);
        s.update(msg);
        byte[] sig = s.sign();
        s.initVerify(kp.getPublic());
        if (spec != null) s.setParameter(spec);
        s.update(msg);
        if (!s.verify(sig)) throw new AssertionError(alg + ": verification succeeds");
        return sig;
    }

    public static void main(String[] args) throws Exception {
        Security.addProvider(new CaviumProvider());
        LoginManager lm = LoginManager.getInstance();
        lm.login("PARTITION_1", "cu1", "user1234");
        try {
            KeyPairGenerator kpg = KeyPairGenerator.getInstance("RSA", "Cavium");
            kpg.initialize(new CaviumRSAKeyGenParameterSpec(2048, new BigInteger("65537"), "sign-pub", "sign-priv", true, false));
            KeyPair kp = kpg.generateKeyPair();
            PublicKey soft = KeyFactory.getInstance("RSA", "SunRsaSign").generatePublic(new X509EncodedKeySpec(kp.getPublic().getEncoded()));
            byte[] msg = "This is a message to sign".getBytes();

            byte[] p1 = sign("SHA224withRSA", kp, null, msg);
            Signature v = Signature.getInstance("SHA224withRSA", "SunRsaSign");
            v.initVerify(soft);
            v.update(msg);
            if (!v.verify(p1)) throw new AssertionError("SunRsaSign verifies SHA224withRSA");
            Signature hv = Signature.getInstance("SHA224withRSA", "Cavium");
            hv.initVerify(soft); /* a software public key (as from a certificate) verifies in the HSM too */
            hv.update(msg);
            if (!hv.verify(p1)) throw new AssertionError("the HSM verifies with a software public key");

            byte[] p2 = sign("SHA256withRSAandMGF1", kp, null, msg);
            Signature vp = Signature.getInstance("RSASSA-PSS", "SunRsaSign");
            vp.setParameter(new PSSParameterSpec("SHA-256", "MGF1", MGF1ParameterSpec.SHA256, 32, 1));
            vp.initVerify(soft);
            vp.update(msg);
            if (!vp.verify(p2)) throw new AssertionError("SunRsaSign verifies SHA256withRSAandMGF1 (salt 32)");

            PSSParameterSpec zero = new PSSParameterSpec("SHA-256", "MGF1", new MGF1ParameterSpec("SHA-256"), 0, 1);
            byte[] p3 = sign("SHA256WithRSA/PSS", kp, zero, msg);
            vp.setParameter(zero);
            vp.initVerify(soft);
            vp.update(msg);
            if (!vp.verify(p3)) throw new AssertionError("SunRsaSign verifies SHA256WithRSA/PSS with salt 0");
            System.out.println("PKCS#1 and PSS signatures verified");
        } finally {
            lm.logout();
        }
    }
}
