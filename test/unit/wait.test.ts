import * as assert from "node:assert/strict";
import { TimeoutError } from "../../provider/errors";
import { waitFor } from "../../provider/run/wait";

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

describe("waitFor: polls at the pace of the answers, never faster than its schedule", () => {
  it("pauses first for firstIntervalMs, then twice as long each time up to intervalMs", async () => {
    const probedAt: number[] = [];
    const value = await waitFor(
      async () => {
        probedAt.push(performance.now());
        return probedAt.length === 6 ? "ready" : undefined;
      },
      { what: "the sixth probe", timeoutMs: 60_000, firstIntervalMs: 10, intervalMs: 40 },
    );
    assert.equal(value, "ready");
    const gaps = probedAt.slice(1).map((at, i) => at - probedAt[i]);
    // Lower bounds only: a loaded machine may pause longer, never shorter (1 ms for timer rounding).
    [10, 20, 40, 40, 40].forEach((least, i) => assert.ok(gaps[i] >= least - 1, `gap ${i}: ${gaps[i]} ms < ${least}`));
  });

  it("a wait whose probes must straddle a commit keeps its spacing from the first pause", async () => {
    const probedAt: number[] = [];
    await waitFor(
      async () => {
        probedAt.push(performance.now());
        return probedAt.length === 3 ? true : undefined;
      },
      { what: "the third probe", timeoutMs: 60_000, firstIntervalMs: 150, intervalMs: 150 },
    );
    assert.ok(probedAt[1] - probedAt[0] >= 149);
    assert.ok(probedAt[2] - probedAt[1] >= 149);
  });
});
