import * as assert from "node:assert/strict";
import { TimeoutError } from "../../provider/errors";
import { waitFor } from "../../provider/wait";

describe("waitFor", () => {
  it("returns the first value the probe gives", async () => {
    let calls = 0;
    const value = await waitFor(async () => (++calls === 3 ? "ready" : undefined), {
      what: "the third call",
      timeoutMs: 5_000,
      intervalMs: 1,
    });
    assert.equal(value, "ready");
    assert.equal(calls, 3);
  });

  it("keeps the probe's last error for the timeout message", async () => {
    await assert.rejects(
      waitFor(
        async () => {
          throw new Error("connection refused");
        },
        { what: "m2 to answer", timeoutMs: 50, intervalMs: 10 },
      ),
      (error: unknown) =>
        error instanceof TimeoutError &&
        /^gave up waiting for m2 to answer after .* \(last problem: connection refused\)$/.test(error.message),
    );
  });

  it("names what sets the bound, so the message says which input to raise", async () => {
    await assert.rejects(
      waitFor(async () => undefined, {
        what: "m2 to come back",
        timeoutMs: 50,
        intervalMs: 10,
        boundBy: "restartTimeout",
      }),
      (error: unknown) =>
        error instanceof TimeoutError &&
        /^gave up waiting for m2 to come back after 0\.1s \(restartTimeout\)$/.test(error.message),
    );
  });

  it("gives up when a probe never answers, instead of waiting for it", async () => {
    // A member that accepts the connection and then says nothing, like etcd waiting for its database lock.
    const never = new Promise<undefined>(() => undefined);
    await assert.rejects(
      waitFor(() => never, { what: "m1 to come back", timeoutMs: 50 }),
      (error: unknown) =>
        error instanceof TimeoutError && /m1 to come back .*the last check was still unanswered/.test(error.message),
    );
  });

  it("ignores a probe that fails after the wait gave up on it", async () => {
    const late = new Promise<undefined>((_, reject) => setTimeout(() => reject(new Error("too late")), 30));
    await assert.rejects(
      waitFor(() => late, { what: "a late answer", timeoutMs: 10 }),
      TimeoutError,
    );
    // An unhandled rejection here would fail the run (mocha reports it against the next test).
    await new Promise((resolve) => setTimeout(resolve, 50));
  });

  it("stops at the first error when errors are not retried", async () => {
    let calls = 0;
    await assert.rejects(
      waitFor(
        async () => {
          calls++;
          throw new Error("refused");
        },
        { what: "x", timeoutMs: 5_000, intervalMs: 1, retryErrors: false },
      ),
      /refused/,
    );
    assert.equal(calls, 1);
  });
});

describe("waitFor with a retry rule", () => {
  it("stops at the first error the rule calls final, and retries the others", async () => {
    let calls = 0;
    await assert.rejects(
      waitFor(
        async () => {
          calls++;
          throw new Error(calls < 3 ? "socket hang up" : "quota reports disagree");
        },
        { what: "m1 to come back", timeoutMs: 5_000, intervalMs: 1, retryErrors: (e) => !/disagree/.test(String(e)) },
      ),
      /quota reports disagree/,
    );
    assert.equal(calls, 3);
  });
});
