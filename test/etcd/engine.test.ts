import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import {
  dynamicResourceType,
  EngineStack,
  isSecret,
  PartialFailure,
  ProviderCallError,
  ProviderHost,
  secret,
  serializeProvider,
  UNKNOWN,
} from "../support/engine";
import { CounterError, readCalls, readLive } from "../support/fixtures/counter-helper";
import { counterProvider } from "../support/fixtures/counter-provider";
import { isAlive } from "../../lab/cluster";

const requireFromString: (code: string) => { handler(): unknown } = require("require-from-string");

describe("closure serialization of a dynamic provider", () => {
  it("round-trips through require-from-string to an object with the provider's methods", async () => {
    const text = await serializeProvider(counterProvider);
    assert.strictEqual(typeof text, "string");
    const handled = requireFromString(text).handler() as Record<string, unknown>;
    const methods = (o: object) =>
      Object.entries(o).flatMap(([key, value]) => (typeof value === "function" ? [key] : []));
    assert.deepStrictEqual(methods(handled), methods(counterProvider));
    assert.deepStrictEqual(methods(handled), ["configure", "check", "diff", "create", "update", "read", "delete"]);
  });

  it("captures a local module by value and Node built-ins by require", async () => {
    const text = await serializeProvider(counterProvider);
    assert.doesNotMatch(text, /require\("\.\/counter-helper"\)/);
    assert.match(text, /function \/\*recordCall\*\//);
    assert.match(text, /require\("fs"\)/);
  });

  it("breaks a class extending Error that it captures by value", async () => {
    // The serializer calls the constructor without `new` and rewrites super() as Error.call(this, ...).
    const make = (message: string) => new CounterError(message);
    const text = await serializeProvider({ make });
    const revived = requireFromString(text).handler() as { make(message: string): unknown };
    assert.throws(() => revived.make("boom"), TypeError);
  });
});

describe("EngineStack driving the dynamic-provider host", () => {
  let host: ProviderHost | undefined;
  let dir: string;

  before(async () => {
    host = await ProviderHost.start();
  });

  after(async () => {
    await host?.stop();
  });

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "engine-test-"));
  });

  afterEach(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  function newStack(): EngineStack {
    return new EngineStack(host!, { provider: counterProvider, config: { greeting: "hello" } });
  }

  it("surfaces check failures and stops before any other call", async () => {
    const stack = newStack();
    const preview = await stack.preview("a", { label: "a", start: -1, dir });
    assert.strictEqual(preview.op, "failed");
    assert.deepStrictEqual(
      preview.failures.map((f) => f.property),
      ["start"],
    );
    assert.match(preview.failures[0].reason, /non-negative/);
    const up = await stack.up("a", { label: "a", start: -1, dir });
    assert.strictEqual(up.op, "failed");
    assert.strictEqual(stack.state("a"), undefined);
    assert.deepStrictEqual(readCalls(dir), ["check a", "check a"]);
  });

  it("previews a create without calling create", async () => {
    const stack = newStack();
    const preview = await stack.preview("a", { label: "a", start: 5, dir });
    assert.strictEqual(preview.op, "create");
    assert.deepStrictEqual(readCalls(dir), ["check a"]);
    assert.strictEqual(readLive(dir, "counter-a"), undefined);
    assert.strictEqual(stack.state("a"), undefined);
  });

  it("passes unknowns to check and diff in a preview, and refuses them in up", async () => {
    const stack = newStack();
    await stack.up("a", { label: "a", start: 5, dir });
    const preview = await stack.preview("a", { label: "a", start: 5, step: UNKNOWN, dir });
    assert.strictEqual(preview.inputs.step, UNKNOWN);
    assert.strictEqual(preview.op, "update");
    await assert.rejects(stack.up("a", { label: "a", start: 5, step: UNKNOWN, dir }), /only during a preview/);
  });

  it("creates, stays the same, then updates on a changed input", async () => {
    const stack = newStack();
    const created = await stack.up("a", { label: "a", start: 5, dir });
    assert.strictEqual(created.op, "create");
    assert.strictEqual(created.outputs?.value, 5);
    // `greeting` reached configure as `<project>:greeting`, which the host's Config resolves with the project.
    assert.strictEqual(created.outputs?.greeting, "hello");
    assert.strictEqual(readLive(dir, "counter-a")?.value, 5);

    const state = stack.state("a")!;
    assert.strictEqual(state.id, "counter-a");
    // The host echoes __provider into the outputs; the state needs it for read and delete.
    assert.strictEqual(typeof state.inputs.__provider, "string");
    assert.strictEqual(state.outputs.__provider, state.inputs.__provider);

    const same = await stack.up("a", { label: "a", start: 5, dir });
    assert.strictEqual(same.op, "same");

    const preview = await stack.preview("a", { label: "a", start: 5, step: 2, dir });
    assert.strictEqual(preview.op, "update");
    assert.deepStrictEqual(preview.diffs, ["step"]);
    assert.strictEqual(readLive(dir, "counter-a")?.value, 5);

    const updated = await stack.up("a", { label: "a", start: 5, step: 2, dir });
    assert.strictEqual(updated.op, "update");
    assert.strictEqual(updated.outputs?.value, 7);
    assert.deepStrictEqual(readCalls(dir), [
      "check a",
      "create a",
      "check a",
      "diff a",
      "check a",
      "diff a",
      "check a",
      "diff a",
      "update a",
    ]);
  });

  it("refresh picks up drift and its inputs, so the next preview shows the difference", async () => {
    const stack = newStack();
    await stack.up("a", { label: "a", start: 5, dir });
    fs.writeFileSync(path.join(dir, "counter-a.json"), JSON.stringify({ label: "a", start: 9, step: 1, value: 42 }));

    const duringPreview = await stack.previewRefresh("a", { label: "a", start: 5, dir });
    assert.strictEqual(duringPreview.op, "update");
    assert.strictEqual(stack.state("a")?.outputs.value, 5, "preview --refresh must not persist the refresh");

    const refreshed = await stack.refresh("a");
    assert.strictEqual(refreshed.changed, true);
    assert.strictEqual(refreshed.outputs?.value, 42);
    assert.strictEqual(refreshed.inputs?.start, 9);
    assert.strictEqual(stack.state("a")?.inputs.start, 9);

    const preview = await stack.preview("a", { label: "a", start: 5, dir });
    assert.strictEqual(preview.op, "update");
    assert.ok(preview.diffs.includes("start"));
  });

  it("removes a resource whose read returns id ''", async () => {
    const stack = newStack();
    await stack.up("a", { label: "a", start: 5, dir });
    fs.rmSync(path.join(dir, "counter-a.json"));
    const refreshed = await stack.refresh("a");
    assert.strictEqual(refreshed.op, "delete");
    assert.strictEqual(stack.state("a"), undefined);
  });

  it("records a partial failure's properties, then the next up resumes", async () => {
    const stack = newStack();
    await stack.up("a", { label: "a", start: 5, dir });

    const failed = await stack.up("a", { label: "a", start: 5, step: 3, dir, failAfter: true }).then(
      () => assert.fail("expected a partial failure"),
      (error: unknown) => error,
    );
    assert.ok(failed instanceof PartialFailure);
    assert.strictEqual(failed.id, "counter-a");
    assert.deepStrictEqual(failed.reasons, ["commit failed after the value was written"]);
    const partial = stack.state("a")!;
    assert.strictEqual(partial.outputs.value, 8);
    assert.strictEqual(partial.outputs.committed, false);
    assert.strictEqual(partial.outputs.__provider, partial.inputs.__provider);
    assert.deepStrictEqual(partial.initErrors, failed.reasons);
    // The real engine keeps the old inputs after a failed update (test/cli/resume.test.ts sees it through the CLI).
    assert.strictEqual(partial.inputs.failAfter, undefined, "the old inputs are kept");
    assert.strictEqual(partial.inputs.step, 1);

    // Diff sees no change, but the init errors make the engine update anyway.
    const preview = await stack.preview("a", { label: "a", start: 5, step: 3, dir });
    assert.strictEqual(preview.changes, false);
    assert.strictEqual(preview.op, "update");

    const resumed = await stack.up("a", { label: "a", start: 5, step: 3, dir });
    assert.strictEqual(resumed.op, "update");
    assert.strictEqual(resumed.outputs?.value, 8, "the resumed update must not add the step twice");
    assert.strictEqual(resumed.outputs?.committed, true);
    assert.deepStrictEqual(stack.state("a")?.initErrors, []);
    assert.strictEqual((await stack.up("a", { label: "a", start: 5, step: 3, dir })).op, "same");
  });

  it("records nothing when create fails with a plain error", async () => {
    const stack = newStack();
    // The live file's directory does not exist, so create throws ENOENT after check succeeded.
    const failed = await stack.up("a", { label: "x/a", start: 5, dir }).then(
      () => assert.fail("expected create to fail"),
      (error: unknown) => error,
    );
    assert.ok(failed instanceof ProviderCallError);
    assert.strictEqual(failed.method, "Create");
    assert.match(failed.message, /ENOENT/);
    assert.strictEqual(stack.state("a"), undefined);
  });

  it("rejects a provider error in check and shows it in the host's logs", async () => {
    const stack = newStack();
    const missing = path.join(dir, "missing");
    const failed = await stack.up("a", { label: "a", start: 5, dir: missing }).then(
      () => assert.fail("expected check to fail"),
      (error: unknown) => error,
    );
    assert.ok(failed instanceof ProviderCallError);
    assert.strictEqual(failed.method, "Check");
    assert.ok(host!.logs.some((line) => line.includes("ENOENT") && line.includes(missing)));
  });

  it("leaves unreadable state when a partial failure's properties lack __provider", async () => {
    // The host adds __provider to create/update/read results, but not to a partial failure's properties.
    const bare = {
      async create() {
        throw Object.assign(new Error("half done"), { id: "bare-1", properties: { half: true }, reasons: ["half"] });
      },
      async read(id: string, props: Record<string, unknown>) {
        return { id, props };
      },
    };
    const stack = new EngineStack(host!, { provider: bare, config: { greeting: "hello" } });
    await assert.rejects(stack.up("b", {}), PartialFailure);
    assert.strictEqual(stack.state("b")?.outputs.__provider, undefined);
    await assert.rejects(stack.refresh("b"), /code must be a string/);
    await assert.rejects(stack.destroy("b"), /code must be a string/);
  });

  it("refuses a second stack config on a configured host", async () => {
    // The test configures the host itself (a first stack's preview), so it does not rely on an earlier test's.
    assert.strictEqual((await newStack().preview("a", { label: "a", start: 5, dir })).op, "create");
    const stack = new EngineStack(host!, { provider: counterProvider, config: { greeting: "other" } });
    await assert.rejects(stack.preview("a", { label: "a", start: 5, dir }), /configured with other config/);
  });

  it("replaces on a label change: creates the new one, then deletes the old", async () => {
    const stack = newStack();
    await stack.up("a", { label: "a", start: 5, dir });
    const replaced = await stack.up("a", { label: "b", start: 5, dir });
    assert.strictEqual(replaced.op, "replace");
    assert.strictEqual(stack.state("a")?.id, "counter-b");
    assert.strictEqual(readLive(dir, "counter-a"), undefined);
    assert.deepStrictEqual(readCalls(dir).slice(-3), ["check b", "create b", "delete a"]);
  });

  it("destroy calls delete with the stored outputs", async () => {
    const stack = newStack();
    await stack.up("a", { label: "a", start: 5, dir });
    await stack.destroy("a");
    assert.strictEqual(readLive(dir, "counter-a"), undefined);
    assert.strictEqual(stack.state("a"), undefined);
    assert.deepStrictEqual(readCalls(dir).slice(-1), ["delete a"]);
  });

  it("sends secrets revealed, re-marks same-named outputs, and encrypts them in the raw state", async () => {
    const stack = newStack();
    await stack.up("a", { label: "a", start: 5, step: secret(7), dir, token: secret("hunter2") });
    // The host refuses secrets, so the provider saw the plain value.
    assert.strictEqual(readLive(dir, "counter-a")?.step, 7);
    const state = stack.state("a")!;
    assert.ok(isSecret(state.inputs.token));
    assert.ok(isSecret(state.outputs.step), "an output named like a secret input is secret again");
    assert.strictEqual(state.outputs.value, 5);
    const raw = stack.rawState();
    assert.doesNotMatch(raw, /hunter2/);
    assert.match(raw, /"ciphertext"/);
  });

  it("names resources with dynamic.Resource's type token", () => {
    const stack = newStack();
    assert.strictEqual(stack.urn("a"), "urn:pulumi:test::etcd-quota-test::pulumi-nodejs:dynamic:Resource::a");
    assert.strictEqual(dynamicResourceType("etcd", "Compaction"), "pulumi-nodejs:dynamic/etcd:Compaction");
  });
});

describe("ProviderHost process", () => {
  it("is gone after stop", async () => {
    const host = await ProviderHost.start();
    try {
      assert.ok(isAlive(host.pid));
    } finally {
      await host.stop();
    }
    assert.strictEqual(isAlive(host.pid), false);
  });
});
