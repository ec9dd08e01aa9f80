import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.Security;
import java.security.Signature;

import com.cavium.cfm2.CFM2Exception;
import com.cavium.key.parameter.CaviumECGenParameterSpec;
import com.cavium.provider.CaviumProvider;

/**
 * Implicit sign-in (HSM_USER, HSM_PASSWORD, HSM_PARTITION) across a daemon restart: a token
 * key and a session key sign; READY; the test restarts the daemon and writes a line; the
 * token key signs again (the provider signed in again by itself); the session key is
 * reported lost with a CFM2Exception that isClientDisconnectError recognises.
 */
public class Reauth {
    static byte[] sign(KeyPair kp) throws Exception {
        Signature s = Signature.getInstance("SHA256withECDSA", "Cavium");
        s.initSign(kp.getPrivate());
        s.update("reauth".getBytes());
        byte[] sig = s.sign();
        s.initVerify(kp.getPublic());
        s.update("reauth".getBytes());
        if (!s.verify(sig)) throw new AssertionError("verification");
        return sig;
    }

    public static void main(String[] args) throws Exception {
        Security.addProvider(new CaviumProvider());
        KeyPairGenerator kpg = KeyPairGenerator.getInstance("EC", "Cavium");
        kpg.initialize(new CaviumECGenParameterSpec("secp256r1", "reauth-token-pub", "reauth-token", false, true));
        KeyPair token = kpg.generateKeyPair();
        kpg.initialize(new CaviumECGenParameterSpec("secp256r1", "reauth-session-pub", "reauth-session", false, false));
        KeyPair session = kpg.generateKeyPair();
        sign(token);
        sign(session);
        System.out.println("READY");
        new BufferedReader(new InputStreamReader(System.in)).readLine();
        sign(token);
        System.out.println("token key signs after the restart");
        try {
            sign(session);
            System.out.println("session key still works (unexpected)");
        } catch (Exception e) {
            Throwable c = e;
            while (c != null && !(c instanceof CFM2Exception)) c = c.getCause();
            System.out.println("session key lost: " + (c != null && CFM2Exception.isClientDisconnectError(c)) + ": " + e.getMessage());
        }
        com.cavium.cfm2.Util.deleteKey((com.cavium.key.CaviumKey) token.getPrivate());
        com.cavium.cfm2.Util.deleteKey((com.cavium.key.CaviumKey) token.getPublic());
    }
}
