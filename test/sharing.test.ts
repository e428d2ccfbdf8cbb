import * as assert from "node:assert/strict";
import { LabCluster } from "../lab/cluster";
import type { EtcdAccess } from "../provider/inputs/access";
import { SessionShare } from "../provider/resources/sharing";

const ROOT_PASSWORD = "sharing-root-pw";

/**
 * How many calls of a gRPC method the member has started, from its own /metrics (fetched here, not through the
 * provider's client): what the member was asked, whatever the provider believes it asked.
 */
async function started(metricsUrl: string, method: string): Promise<number> {
  const text = await (await fetch(`${metricsUrl}/metrics`)).text();
  const line = text
    .split("\n")
    .find((l) => l.startsWith("grpc_server_started_total{") && l.includes(`grpc_method="${method}"`));
  return line === undefined ? 0 : Number(line.split(" ").pop());
}

describe("sharing within one run: looks and connections of one cluster, per credentials, for seconds (real etcd)", function () {
  this.timeout(60_000);
  let cluster: LabCluster;
  let access: EtcdAccess;
  let metricsUrl: string;
  before(async () => {
    cluster = await LabCluster.start({ members: 1, auth: { rootPassword: ROOT_PASSWORD } });
    metricsUrl = cluster.members[0].metricsUrl;
    access = {
      endpoints: cluster.endpoints,
      username: "root",
      password: ROOT_PASSWORD,
      allowInsecureCredentials: true,
    };
  });
  after(async () => {
    await cluster?.stop();
  });

  /** A share on a clock the test moves, and the Status calls the member saw while `use` ran. */
  async function statusCallsDuring(use: (share: SessionShare, clock: { ms: number }) => Promise<void>) {
    const clock = { ms: 1_000_000 };
    const share = new SessionShare({ shareMs: 10_000, now: () => clock.ms });
    const before = await started(metricsUrl, "Status");
    try {
      await use(share, clock);
    } finally {
      share.closeAll();
    }
    return (await started(metricsUrl, "Status")) - before;
  }

  async function observeOnce(share: SessionShare, a: EtcdAccess, freshness: "read" | "reuse") {
    const session = share.open(a, { callTimeoutMs: 5_000 }, freshness);
    try {
      return await session.observe();
    } finally {
      session.close();
    }
  }

  it("a check after a refresh, with the same access, asks the member nothing again, and uses the same connection", async () => {
    let sameClient = false;
    const calls = await statusCallsDuring(async (share) => {
      const refresh = share.open(access, { callTimeoutMs: 5_000 }, "read");
      const check = share.open(access, { callTimeoutMs: 5_000 }, "reuse");
      assert.equal((await refresh.observe()).members.length, 1);
      assert.equal((await check.observe()).members.length, 1);
      sameClient = refresh.client(access.endpoints[0]) === check.client(access.endpoints[0]);
      refresh.close();
      check.close();
    });
    assert.equal(calls, 1, "one Status for the refresh, none for the check");
    assert.ok(sameClient);
  });

  it("a refresh always asks, even right after another look", async () => {
    const calls = await statusCallsDuring(async (share) => {
      await observeOnce(share, access, "read");
      await observeOnce(share, access, "read");
    });
    assert.equal(calls, 2);
  });

  it("a check takes a refresh's look once: a second check (another preview in the same host) asks again, and sees a member stopped meanwhile", async () => {
    const calls = await statusCallsDuring(async (share) => {
      await observeOnce(share, access, "read");
      await observeOnce(share, access, "reuse");
      await observeOnce(share, access, "reuse");
    });
    assert.equal(calls, 2, "one Status for the refresh and its check, one for the second check");
  });

  it("a look expires: a check after the sharing bound asks again", async () => {
    const calls = await statusCallsDuring(async (share, clock) => {
      await observeOnce(share, access, "read");
      clock.ms += 10_000;
      await observeOnce(share, access, "reuse");
    });
    assert.equal(calls, 2);
  });

  it("a run that changed the cluster makes the next check ask again (forget)", async () => {
    const calls = await statusCallsDuring(async (share) => {
      await observeOnce(share, access, "read");
      share.forget(access);
      await observeOnce(share, access, "reuse");
    });
    assert.equal(calls, 2);
  });

  it("never across credentials: a check with another password authenticates itself and is refused", async () => {
    const share = new SessionShare();
    try {
      await observeOnce(share, access, "read");
      const authBefore = await started(metricsUrl, "Authenticate");
      const wrong = await observeOnce(share, { ...access, password: "not-the-password" }, "reuse");
      assert.ok((await started(metricsUrl, "Authenticate")) > authBefore, "the member was asked to authenticate");
      assert.equal(wrong.members.length, 0, "the right password's look was not handed to the wrong one");
      assert.equal(wrong.unreachable.length, 1);
    } finally {
      share.closeAll();
    }
  });
});
