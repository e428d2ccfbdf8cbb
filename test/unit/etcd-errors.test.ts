import * as assert from "node:assert/strict";
import * as http from "node:http";
import * as net from "node:net";
import { EtcdAuthenticationFailedError, EtcdPermissionDeniedError, GRPCDeadlineExceededError } from "etcd3";
import type { MemberUnavailableError } from "../../provider/errors";
import {
  EtcdAuthError,
  EtcdDeadlineError,
  EtcdNoSpaceError,
  EtcdPermissionError,
  EtcdQuotaError,
  EtcdTlsError,
  EtcdUnreachableError,
  isAccessError,
  NotEtcdError,
} from "../../provider/errors";
import { MemberClient, memberError } from "../../provider/etcd/member";

const ENDPOINT = "https://10.0.0.1:2379";
// grpc-js's own texts, as etcd3 hands them over (taken from runs against real members).
const UNTRUSTED =
  "14 UNAVAILABLE: No connection established. Last error: Error: unable to verify the first certificate (2026-11-30T02:00:00.000Z)";
const NO_CLIENT_CERT =
  "14 UNAVAILABLE: No connection established. Last error: Error: 40E7:error:0A00045C:SSL routines:ssl3_read_bytes:tlsv13 alert certificate required:../deps/openssl/openssl/ssl/record/rec_layer_s3.c:1605:SSL alert number 116";
const REFUSED = "14 UNAVAILABLE: No connection established. Last error: connect ECONNREFUSED 10.0.0.1:2379";

describe("etcd errors, mapped once to the project's classes", () => {
  it("maps etcd3's auth and permission classes, naming the input to fix", () => {
    const auth = memberError(ENDPOINT, "status", new EtcdAuthenticationFailedError("auth failed"), { username: "u" });
    assert.ok(auth instanceof EtcdAuthError);
    assert.equal((auth as MemberUnavailableError).input, "password");
    const denied = memberError(ENDPOINT, "defragment", new EtcdPermissionDeniedError("denied"), { username: "u" });
    assert.ok(denied instanceof EtcdPermissionError);
    assert.equal((denied as MemberUnavailableError).input, "username");
    const byCertificate = memberError(ENDPOINT, "defragment", new EtcdPermissionDeniedError("denied"), {
      clientCert: true,
    });
    assert.equal((byCertificate as MemberUnavailableError).input, "tls.cert", "the certificate names the user");
  });

  it("tells TLS failures apart by the side at fault: the CA for the server's certificate, tls.cert for the client's", () => {
    const untrusted = memberError(ENDPOINT, "status", new Error(UNTRUSTED), { ca: true });
    assert.ok(untrusted instanceof EtcdTlsError);
    assert.equal((untrusted as MemberUnavailableError).input, "tls.ca");
    assert.match(untrusted.message, /not signed by the CA in tls\.ca \(unable to verify the first certificate\)/);
    const noCert = memberError(ENDPOINT, "status", new Error(NO_CLIENT_CERT));
    assert.ok(noCert instanceof EtcdTlsError);
    assert.equal((noCert as MemberUnavailableError).input, "tls.cert");
    assert.match(noCert.message, /TLS alert "certificate required" \(116\)/);
  });

  it("says how long a call waited when its deadline ran out, and what sets that bound", () => {
    const late = memberError(ENDPOINT, "defragment", new GRPCDeadlineExceededError("4 DEADLINE_EXCEEDED"), {
      timeoutMs: 75_000,
      boundBy: "60s plus 1s per 5 MiB of the largest DB file",
    });
    assert.ok(late instanceof EtcdDeadlineError);
    assert.equal(
      late.message,
      `etcd member ${ENDPOINT}: defragment: no answer within 1m15s (60s plus 1s per 5 MiB of the largest DB file)`,
    );
  });

  it("keeps a member that is down apart from settings that are wrong", () => {
    const down = memberError(ENDPOINT, "status", new Error(REFUSED));
    assert.ok(down instanceof EtcdUnreachableError);
    assert.ok(!isAccessError(down), "a member down is not a wrong setting");
    assert.ok(isAccessError(memberError(ENDPOINT, "status", new Error(UNTRUSTED))));
    const full = memberError(ENDPOINT, "put", new Error("etcdserver: mvcc: database space exceeded"));
    assert.ok(full instanceof EtcdNoSpaceError);
    assert.ok(!isAccessError(full));
  });

  it("lets the project's own errors through unchanged", () => {
    const own = new EtcdQuotaError("already explained");
    assert.equal(memberError(ENDPOINT, "status", own), own);
  });

  it("calls what answers on a port with HTTP/1 or SSH not etcd, and a closed port unreachable (real sockets)", async () => {
    const web = http.createServer((_request, response) => response.writeHead(404).end());
    const ssh = net.createServer((socket) => socket.end("SSH-2.0-OpenSSH_9.2\r\n"));
    const closed = net.createServer();
    const portOf = async (server: net.Server) => {
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      return (server.address() as net.AddressInfo).port;
    };
    const [webPort, sshPort, closedPort] = [await portOf(web), await portOf(ssh), await portOf(closed)];
    await new Promise((resolve) => closed.close(resolve));
    try {
      for (const [port, kind] of [
        [webPort, NotEtcdError],
        [sshPort, NotEtcdError],
        [closedPort, EtcdUnreachableError],
      ] as const) {
        const client = new MemberClient(`http://127.0.0.1:${port}`, {}, { callTimeoutMs: 3_000 });
        try {
          const error = await client.status().then(
            () => assert.fail("status answered"),
            (e: unknown) => e,
          );
          assert.ok(error instanceof kind, `port ${port}: ${String(error)}`);
          if (kind === NotEtcdError) {
            assert.equal((error as MemberUnavailableError).input, "endpoint");
            assert.match(String(error), /not etcd's client API .*usually port 2379/);
          }
        } finally {
          client.close();
        }
      }
    } finally {
      web.close();
      ssh.close();
    }
  });
});
