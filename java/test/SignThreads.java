import java.math.BigInteger;
import java.security.KeyFactory;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.PublicKey;
import java.security.Security;
import java.security.Signature;
import java.security.spec.X509EncodedKeySpec;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

import com.cavium.cfm2.LoginManager;
import com.cavium.key.parameter.CaviumRSAKeyGenParameterSpec;
import com.cavium.provider.CaviumProvider;

/**
 * 16 threads sign with their own Signature objects and one shared key for `seconds`
 * seconds; it prints READY once every thread has signed once (the test then kills a
 * node), and at the end the number of signatures and failures. Every signature is
 * verified in software (SunRsaSign).
 *
 *   java SignThreads <threads> <seconds>
 */
public class SignThreads {
    public static void main(String[] args) throws Exception {
        int threads = Integer.parseInt(args[0]);
        long seconds = Long.parseLong(args[1]);
        Security.addProvider(new CaviumProvider());
        LoginManager.getInstance().login("PARTITION_1", "cu1", "user1234");
        KeyPairGenerator kpg = KeyPairGenerator.getInstance("RSA", "Cavium");
        kpg.initialize(new CaviumRSAKeyGenParameterSpec(2048, BigInteger.valueOf(65537), "threads-pub", "threads-priv", false, true));
        KeyPair kp = kpg.generateKeyPair();
        PublicKey soft = KeyFactory.getInstance("RSA", "SunRsaSign").generatePublic(new X509EncodedKeySpec(kp.getPublic().getEncoded()));
        AtomicInteger ok = new AtomicInteger(), bad = new AtomicInteger(), warm = new AtomicInteger();
        AtomicBoolean stop = new AtomicBoolean();
        List<Thread> ts = new ArrayList<>();
        for (int t = 0; t < threads; t++) {
            final int id = t;
            Thread th = new Thread(() -> {
                try {
                    Signature s = Signature.getInstance("SHA256withRSA", "Cavium");
                    Signature v = Signature.getInstance("SHA256withRSA", "SunRsaSign");
                    boolean first = true;
                    for (int i = 0; !stop.get(); i++) {
                        byte[] msg = ("thread " + id + " message " + i).getBytes();
                        try {
                            s.initSign(kp.getPrivate());
                            s.update(msg);
                            byte[] sig = s.sign();
                            v.initVerify(soft);
                            v.update(msg);
                            if (v.verify(sig)) ok.incrementAndGet();
                            else {
                                bad.incrementAndGet();
                                System.out.println("bad signature in thread " + id);
                            }
                        } catch (Exception e) {
                            bad.incrementAndGet();
                            System.out.println("failure in thread " + id + ": " + e);
                        }
                        if (first) {
                            first = false;
                            if (warm.incrementAndGet() == threads) System.out.println("READY");
                        }
                    }
                } catch (Exception e) {
                    bad.incrementAndGet();
                    System.out.println("thread " + id + " could not start: " + e);
                }
            });
            th.start();
            ts.add(th);
        }
        Thread.sleep(seconds * 1000);
        stop.set(true);
        for (Thread th : ts) th.join();
        System.out.println("signatures: " + ok.get() + ", failures: " + bad.get());
        com.cavium.cfm2.Util.deleteKey((com.cavium.key.CaviumKey) kp.getPrivate());
        com.cavium.cfm2.Util.deleteKey((com.cavium.key.CaviumKey) kp.getPublic());
        LoginManager.getInstance().logout();
        System.exit(bad.get() == 0 && ok.get() > 0 ? 0 : 1);
    }
}
