// A department's Java system calling its govchain gateway (docs/design/gateway.md) with
// nothing but the JDK (java.net.http.HttpClient): the gateway's status, an access
// request for a certificate with an Idempotency-Key (so a retry never asks twice), and
// the document of the allowed request.
//
// Run it from source (JDK 11+):
//   java clients/java/GatewayExample.java <gateway URL> <API token> <certificate id> <purpose>
// It prints one line per step, and the document last.

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.Base64;
import java.util.UUID;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

public class GatewayExample {
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
    private final String base;
    private final String token;

    GatewayExample(String base, String token) {
        this.base = base.replaceAll("/+$", "");
        this.token = token;
    }

    /** A failed call: the gateway's problem details, with the stable error name. */
    static final class GatewayException extends RuntimeException {
        final int status;
        final String name;

        GatewayException(int status, String body) {
            super(status + " " + field(body, "name") + ": " + field(body, "detail"));
            this.status = status;
            this.name = field(body, "name");
        }
    }

    /** The string or number value of a top-level JSON field (enough for this example). */
    static String field(String json, String name) {
        Matcher m = Pattern.compile("\"" + Pattern.quote(name) + "\"\\s*:\\s*(\"((?:[^\"\\\\]|\\\\.)*)\"|-?[0-9]+)").matcher(json);
        if (!m.find()) {
            return "";
        }
        return m.group(2) != null ? m.group(2) : m.group(1);
    }

    private String send(HttpRequest.Builder b) throws Exception {
        HttpRequest req = b.header("Authorization", "Bearer " + token)
                .header("Accept", "application/json")
                .timeout(Duration.ofSeconds(120))
                .build();
        HttpResponse<String> r = http.send(req, HttpResponse.BodyHandlers.ofString());
        if (r.statusCode() >= 400) {
            throw new GatewayException(r.statusCode(), r.body());
        }
        return r.body();
    }

    String get(String path) throws Exception {
        return send(HttpRequest.newBuilder(URI.create(base + path)).GET());
    }

    /** A POST with an Idempotency-Key: sent again after a network failure, it acts once. */
    String post(String path, String json) throws Exception {
        String key = UUID.randomUUID().toString();
        for (int attempt = 0; ; attempt++) {
            try {
                return send(HttpRequest.newBuilder(URI.create(base + path))
                        .header("Content-Type", "application/json")
                        .header("Idempotency-Key", key)
                        .POST(HttpRequest.BodyPublishers.ofString(json)));
            } catch (java.io.IOException e) {
                if (attempt >= 3) {
                    throw e;
                }
                Thread.sleep(500L * (attempt + 1));
            }
        }
    }

    static String quote(String s) {
        return "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 4) {
            System.err.println("usage: java GatewayExample.java <gateway URL> <API token> <certificate id> <purpose>");
            System.exit(2);
        }
        GatewayExample gw = new GatewayExample(args[0], args[1]);
        String status = gw.get("/v1/status");
        System.out.println("department " + field(status, "department") + " on chain " + field(status, "chain_id")
                + " at height " + field(status, "height"));
        String decision = gw.post("/v1/access-requests",
                "{\"certificate_id\": " + quote(args[2]) + ", \"purpose\": " + quote(args[3]) + "}");
        String request = field(decision, "request");
        System.out.println("request " + request + ": " + field(decision, "decision") + " (" + field(decision, "reason") + ")");
        if (!"allow".equals(field(decision, "decision"))) {
            System.exit(1);
        }
        String doc = gw.get("/v1/access-requests/" + request + "/document?wait_ms=60000");
        byte[] document = Base64.getDecoder().decode(field(doc, "document"));
        System.out.println("document " + new String(document, java.nio.charset.StandardCharsets.UTF_8));
    }
}
