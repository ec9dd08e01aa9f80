import java.math.BigInteger;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.Security;

import javax.crypto.Cipher;

import com.cavium.cfm2.LoginManager;
import com.cavium.key.parameter.CaviumRSAKeyGenParameterSpec;
import com.cavium.provider.CaviumProvider;

/** RSA/ECB/PKCS1Padding: encrypt with the public key, decrypt with the private key; and a software encryption the HSM decrypts. */
public class CipherRSA {
    public static void main(String[] args) throws Exception {
        Security.addProvider(new CaviumProvider());
        LoginManager lm = LoginManager.getInstance();
        lm.login("PARTITION_1", "cu1", "user1234");
        try {
            KeyPairGenerator kpg = KeyPairGenerator.getInstance("RSA", "Cavium");
            kpg.initialize(new CaviumRSAKeyGenParameterSpec(2048, new BigInteger("65537"), "rsa-cipher-pub", "rsa-cipher-priv", true, false));
            KeyPair kp = kpg.generateKeyPair();
            Cipher enc = Cipher.getInstance("RSA/ECB/PKCS1Padding", "Cavium");
            enc.init(Cipher.ENCRYPT_MODE, kp.getPublic());
            byte[] ct = enc.doFinal("SampleText1".getBytes());
            Cipher dec = Cipher.getInstance("RSA/ECB/PKCS1Padding", "Cavium");
            dec.init(Cipher.DECRYPT_MODE, kp.getPrivate());
            String back = new String(dec.doFinal(ct));
            if (!back.equals("SampleText1")) throw new AssertionError("RSA round trip: " + back);
            Cipher sun = Cipher.getInstance("RSA/ECB/OAEPWithSHA-256AndMGF1Padding", "SunJCE");
            sun.init(Cipher.ENCRYPT_MODE, java.security.KeyFactory.getInstance("RSA", "SunRsaSign").generatePublic(new java.security.spec.X509EncodedKeySpec(kp.getPublic().getEncoded())), new javax.crypto.spec.OAEPParameterSpec("SHA-256", "MGF1",
                    java.security.spec.MGF1ParameterSpec.SHA256, javax.crypto.spec.PSource.PSpecified.DEFAULT));
            byte[] sct = sun.doFinal("from software".getBytes());
            Cipher oaep = Cipher.getInstance("RSA/ECB/OAEPWithSHA-256ANDMGF1Padding", "Cavium");
            oaep.init(Cipher.DECRYPT_MODE, kp.getPrivate());
            if (!new String(oaep.doFinal(sct)).equals("from software")) throw new AssertionError("the HSM decrypts SunJCE's OAEP-SHA256 (MGF1-SHA256)");
            System.out.println("RSA round trip: " + back);
        } finally {
            lm.logout();
        }
    }
}
