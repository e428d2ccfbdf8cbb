import * as assert from "node:assert/strict";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";

interface Registered {
  readonly type: string;
  readonly name: string;
  readonly inputs: Record<string, unknown>;
}

const registered: Registered[] = [];

/** The value of an output under mocks (Output.promise() is internal to the SDK). */
function valueOf<T>(output: pulumi.Output<T>): Promise<T> {
  return new Promise((resolve) => output.apply(resolve));
}

pulumi.runtime.setMocks(
  {
    newResource: (args) => {
      registered.push({ type: args.type, name: args.name, inputs: args.inputs });
      return { id: `${args.name}-id`, state: args.inputs };
    },
    call: () => ({}),
  },
  "etcd-space",
  "test",
  false,
);

describe("EtcdCompaction SDK class (under mocks)", () => {
  it("registers the pulumi-nodejs:dynamic/etcd-quota:EtcdCompaction type with the inputs, its name and a serialized provider", async () => {
    const { EtcdCompaction } = await import("../sdk");
    const resource = new EtcdCompaction("space", {
      endpoints: ["http://127.0.0.1:2379"],
      retainRevisions: 10,
      defrag: { minFreeBytes: "64MiB" },
    });
    await valueOf(resource.urn);
    const entry = registered.find((r) => r.name === "space");
    assert.ok(entry, "the resource was registered");
    // Dynamic providers are never told the URN: the name their progress lines start with comes as an input.
    assert.equal(entry.inputs.resourceName, "space");
    assert.equal(entry.type, "pulumi-nodejs:dynamic/etcd-quota:EtcdCompaction");
    assert.deepEqual(entry.inputs.endpoints, ["http://127.0.0.1:2379"]);
    assert.equal(entry.inputs.retainRevisions, 10);
    assert.equal(typeof entry.inputs.__provider, "string");
    assert.match(String(entry.inputs.__provider), /exports\.handler/);
    // The shim loads the installed provider by package name; none of the provider code is in the state.
    assert.match(String(entry.inputs.__provider), /require\("pulumi-etcd-quota\/provider"\)/);
    assert.ok(String(entry.inputs.__provider).length < 4000, "the serialized provider stays small");
  });

  it("marks TLS material and the password as secret outputs", async () => {
    const { EtcdCompaction } = await import("../sdk");
    let seen: pulumi.CustomResourceOptions | undefined;
    const resource = new EtcdCompaction(
      "secret-space",
      { endpoints: ["https://127.0.0.1:2379"], username: "root", password: "pw" },
      {
        transformations: [
          (args) => {
            seen = args.opts;
            return undefined;
          },
        ],
      },
    );
    await valueOf(resource.urn);
    assert.deepEqual(seen?.additionalSecretOutputs, ["tls", "password"]);
  });
});

describe("snapshot paths (under mocks)", () => {
  it("fills {stack} and {resource} and makes a relative path absolute from the program's folder, leaving {time}", async () => {
    const { EtcdCompaction, EtcdQuota } = await import("../sdk");
    new EtcdCompaction("space-snap", {
      endpoints: ["http://127.0.0.1:2379"],
      snapshot: { path: "snapshots/{stack}-{resource}-{time}.db", keep: 2 },
    });
    const quota = new EtcdQuota("quota-snap", {
      quota: "1GiB",
      members: [{ endpoint: "http://127.0.0.1:2379", configFile: "/etc/etcd.env" }],
      snapshot: { path: "/var/backups/{resource}/{time}.db" },
    });
    await valueOf(quota.urn);
    const inputsOf = (name: string) => registered.find((r) => r.name === name)?.inputs.snapshot;
    assert.deepEqual(inputsOf("space-snap"), {
      path: path.join(process.cwd(), "snapshots", "test-space-snap-{time}.db"),
      keep: 2,
    });
    assert.deepEqual(inputsOf("quota-snap"), { path: "/var/backups/quota-snap/{time}.db" });
  });
});

describe("EtcdQuota SDK class (under mocks)", () => {
  it("refuses members that are not a list before serializing anything, with check's message", async () => {
    const { EtcdQuota } = await import("../sdk");
    const { InvalidInputError } = await import("../provider/errors");
    for (const [members, got] of [
      [{}, "an object"],
      [[], "a list"],
      ["http://10.0.0.1:2379", '"http://10.0.0.1:2379"'],
    ] as const) {
      assert.throws(
        () => new EtcdQuota("bad", { quota: "1GiB", members: members as never }),
        (error: unknown) =>
          error instanceof InvalidInputError &&
          error.message === `members: expected a non-empty list of { endpoint, configFile }, got ${got}`,
      );
    }
  });
});
