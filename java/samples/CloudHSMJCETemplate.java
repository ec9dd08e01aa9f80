import java.security.Security;

import com.cavium.cfm2.LoginManager;
import com.cavium.provider.CaviumProvider;

/** The guide's boilerplate: add the provider, log in, work, log out. */
public class CloudHSMJCETemplate {
    public static void main(String[] args) throws Exception {
        Security.addProvider(new CaviumProvider());
        LoginManager lm = LoginManager.getInstance();
        lm.login("PARTITION_1", "cu1", "user1234");
        try {
            System.out.println("Logged in; provider " + Security.getProvider("Cavium").getName());
        } finally {
            lm.logout();
        }
    }
}
