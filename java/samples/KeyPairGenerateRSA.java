import java.math.BigInteger;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.Security;
import java.security.interfaces.RSAPublicKey;

import com.cavium.cfm2.LoginManager;
import com.cavium.key.CaviumKey;
import com.cavium.key.CaviumRSAPrivateKey;
import com.cavium.key.parameter.CaviumRSAKeyGenParameterSpec;
import com.cavium.provider.CaviumProvider;

public class KeyPairGenerateRSA {
    public static void main(String[] args) throws Exception {
        Security.addProvider(new CaviumProvider());
        LoginManager lm = LoginManager.getInstance();
        lm.login("PARTITION_1", "cu1", "user1234");
        try {
            KeyPairGenerator kpg = KeyPairGenerator.getInstance("RSA", "Cavium");
            kpg.initialize(new CaviumRSAKeyGenParameterSpec(2048, new BigInteger("65537"), "publickey", "privatekey", true, true));
            KeyPair kp = kpg.generateKeyPair();
            RSAPublicKey pub = (RSAPublicKey) kp.getPublic();
            if (pub.getModulus().bitLength() != 2048 || !pub.getPublicExponent().equals(BigInteger.valueOf(65537))) throw new AssertionError("RSA-2048, e=65537");
            if (!(kp.getPrivate() instanceof CaviumRSAPrivateKey) || !((CaviumKey) kp.getPrivate()).getLabel().equals("privatekey")
                    || !((CaviumKey) kp.getPublic()).getLabel().equals("publickey")) {
                throw new AssertionError("labels publickey/privatekey");
            }
            if (!((CaviumRSAPrivateKey) kp.getPrivate()).getModulus().equals(pub.getModulus())) throw new AssertionError("the pair shares the modulus");
            System.out.println("RSA pair: " + kp.getPublic() + " " + kp.getPrivate());
        } finally {
            lm.logout();
        }
    }
}
