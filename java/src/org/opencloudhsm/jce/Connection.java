package org.opencloudhsm.jce;

import java.io.Closeable;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Consumer;

import com.cavium.cfm2.CFM2Exception;

import org.opencloudhsm.jce.Wire.Frame;
import org.opencloudhsm.jce.Wire.WireException;

/**
 * One connection to the client daemon: a Unix socket (or TCP on 127.0.0.1 when
 * the cfg says SOCKET_TYPE=TCPSOCKET), hello first, then pipelined requests with
 * request ids so that every thread of the JVM shares it. A reader thread matches
 * responses to requests; when the connection ends, every request in flight
 * fails with {@link Lost}, and the caller may reconnect.
 */
public final class Connection implements Closeable {
    /**
     * The name this provider gives in hello: "OpenCloudHSM-jce/" and the one software version,
     * which the build copies from package.json into the resource version.txt of the jar (the
     * Makefile's JCE rule), as it copies ops.txt.
     */
    static final String CLIENT = "OpenCloudHSM-jce/" + readVersion();

    private static String readVersion() {
        try (InputStream in = Connection.class.getResourceAsStream("version.txt")) {
            if (in == null) throw new IllegalStateException("version.txt is missing from the provider jar (written from package.json by the build)");
            String v = new String(in.readAllBytes(), StandardCharsets.US_ASCII).trim();
            if (v.isEmpty()) throw new IllegalStateException("version.txt in the provider jar is empty");
            return v;
        } catch (IOException e) {
            throw new IllegalStateException("cannot read version.txt: " + e.getMessage(), e);
        }
    }

    /** The connection is gone (daemon stopped or restarted, socket closed, invalid frame). */
    public static final class Lost extends Exception {
        private static final long serialVersionUID = 1L;

        Lost(String m, Throwable cause) {
            super(m, cause);
        }
    }

    /** The daemon did not answer within the time limit. */
    public static final class Timeout extends Exception {
        private static final long serialVersionUID = 1L;

        Timeout(String m) {
            super(m);
        }
    }

    private final SocketChannel ch;
    private final String endpoint;
    private final Object writeLock = new Object();
    private final Map<Long, CompletableFuture<Frame>> pending = new ConcurrentHashMap<>();
    private long nextId = 1;
    private volatile Lost closed;
    private final Consumer<Msg> onLoginChanged;
    public final String server;

    private Connection(SocketChannel ch, String endpoint, Consumer<Msg> onLoginChanged, long timeoutMs) throws Lost, Timeout, CFM2Exception {
        this.ch = ch;
        this.endpoint = endpoint;
        this.onLoginChanged = onLoginChanged;
        Thread t = new Thread(this::readLoop, "cavium-daemon-reader");
        t.setDaemon(true);
        t.start();
        Msg hello = call("hello", Msg.of("versions", new long[] {1}, "client", CLIENT), timeoutMs);
        this.server = hello.str("server");
    }

    /** Connect and say hello. IOException when nothing listens at the endpoint. */
    public static Connection open(AppConfig cfg, long timeoutMs, Consumer<Msg> onLoginChanged) throws IOException, Lost, Timeout, CFM2Exception {
        SocketChannel ch;
        if (cfg.tcp) {
            ch = SocketChannel.open();
            try {
                ch.socket().connect(new InetSocketAddress("127.0.0.1", cfg.port), (int) timeoutMs);
                ch.socket().setTcpNoDelay(true);
            } catch (IOException e) {
                ch.close();
                throw e;
            }
        } else {
            ch = SocketChannel.open(StandardProtocolFamily.UNIX);
            try {
                ch.connect(UnixDomainSocketAddress.of(cfg.socketPath));
            } catch (IOException e) {
                ch.close();
                throw e;
            }
        }
        try {
            return new Connection(ch, cfg.endpoint(), onLoginChanged, timeoutMs);
        } catch (Lost | Timeout | CFM2Exception | RuntimeException e) {
            ch.close();
            throw e;
        }
    }

    public boolean isOpen() {
        return closed == null;
    }

    private void readLoop() {
        Wire.FrameReader r = new Wire.FrameReader();
        ByteBuffer buf = ByteBuffer.allocate(64 * 1024);
        Lost why;
        try {
            for (;;) {
                buf.clear();
                int n = ch.read(buf);
                if (n < 0) {
                    r.end();
                    why = new Lost("the daemon closed the connection (" + endpoint + ")", null);
                    break;
                }
                for (Frame f : r.push(buf.array(), 0, n)) deliver(f);
            }
        } catch (WireException e) {
            why = new Lost("invalid frame from the daemon: " + e.getMessage(), e);
        } catch (IOException e) {
            why = new Lost("the connection to the daemon failed (" + endpoint + "): " + e.getMessage(), e);
        }
        shutdown(why);
    }

    private void deliver(Frame f) throws WireException {
        if (f.kind == Wire.KIND_NOTICE) {
            Schema.Op n = Schema.noticeByOpcode(f.opcode);
            Msg m = Schema.decodeNotice(f);
            if (n != null && n.name.equals("loginChanged") && m != null && onLoginChanged != null) onLoginChanged.accept(m);
            return;
        }
        if (f.kind != Wire.KIND_RESPONSE) throw new WireException("ERR_PROTOCOL", "the daemon sent a request frame");
        CompletableFuture<Frame> p = pending.remove(f.requestId);
        if (p == null) throw new WireException("ERR_PROTOCOL", "response to request id " + f.requestId + ", which is not in flight");
        p.complete(f);
    }

    private void shutdown(Lost why) {
        synchronized (this) {
            if (closed != null) return;
            closed = why;
        }
        try {
            ch.close();
        } catch (IOException ignored) {
            /* closing anyway */
        }
        for (Long id : List.copyOf(pending.keySet())) {
            CompletableFuture<Frame> p = pending.remove(id);
            if (p != null) p.completeExceptionally(why);
        }
    }

    @Override
    public void close() {
        shutdown(new Lost("the connection to the daemon was closed by this application", null));
    }

    /** One request; the result fields, or CFM2Exception with the daemon's (or node's) error. */
    public Msg call(String op, Msg req, long timeoutMs) throws Lost, Timeout, CFM2Exception {
        Lost c = closed;
        if (c != null) throw c;
        CompletableFuture<Frame> p = new CompletableFuture<>();
        long id;
        byte[] frame;
        synchronized (writeLock) {
            do {
                id = nextId;
                nextId = nextId == 0xffffffffL ? 1 : nextId + 1;
            } while (pending.containsKey(id));
            try {
                frame = Schema.encodeRequest(op, id, req);
            } catch (WireException e) {
                throw new CFM2Exception(0x7, e.code, op + ": " + e.getMessage());
            }
            pending.put(id, p);
            if (closed != null) {
                pending.remove(id);
                throw closed;
            }
            try {
                ByteBuffer b = ByteBuffer.wrap(frame);
                while (b.hasRemaining()) ch.write(b);
            } catch (IOException e) {
                pending.remove(id);
                Lost l = new Lost("cannot send to the daemon (" + endpoint + "): " + e.getMessage(), e);
                shutdown(l);
                throw l;
            }
        }
        Frame f;
        try {
            f = p.get(timeoutMs, TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            /* The id stays pending: a late answer is then dropped, not taken for a protocol error. */
            throw new Timeout(op + ": no answer from the daemon within " + timeoutMs + " ms");
        } catch (ExecutionException e) {
            if (e.getCause() instanceof Lost) throw (Lost) e.getCause();
            throw new Lost("connection failed: " + e.getCause(), e.getCause());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new Timeout(op + ": interrupted while waiting for the daemon");
        }
        Schema.Response r;
        try {
            if (f.opcode != Schema.op(op).opcode) throw new WireException("ERR_PROTOCOL", String.format("response opcode 0x%04x does not answer %s", f.opcode, op));
            r = Schema.decodeResponse(f);
        } catch (WireException e) {
            Lost l = new Lost("invalid response from the daemon: " + e.getMessage(), e);
            shutdown(l);
            throw l;
        }
        if (!r.ok) throw new CFM2Exception(r.rv, r.code, r.message);
        return r.result;
    }
}
