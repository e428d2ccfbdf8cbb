import * as assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as path from "node:path";

const ROOT = path.join(__dirname, "../..");
/** The libraries whose loading costs the provider host's start: the clients, the YAML parser, Pulumi's SDK. */
const LIBRARIES = ["etcd3", "@grpc/grpc-js", "ssh2", "yaml", "@pulumi/pulumi"];

/** The client libraries a module loads, found in a fresh Node process's module cache after requiring it alone. */
function clientLibrariesLoadedBy(modules: readonly string[]): string[] {
  const script = `
    for (const m of ${JSON.stringify(modules)}) require(m);
    const names = Object.keys(require.cache)
      .map((p) => /node_modules\\/((?:@[^/]+\\/)?[^/]+)\\//.exec(p)?.[1])
      .filter((name) => ${JSON.stringify(LIBRARIES)}.includes(name));
    process.stdout.write(JSON.stringify([...new Set(names)].sort()));
  `;
  const output = execFileSync(process.execPath, ["-r", "ts-node/register/transpile-only", "-e", script], {
    cwd: ROOT,
    encoding: "utf8",
  });
  return JSON.parse(output) as string[];
}

describe("layers: pure logic loads no client", function () {
  // Each check starts a fresh Node with ts-node: ~10 s on 2 cores at a load average of ~30.
  this.timeout(180_000);

  it("the planners, the drift rules, the runs' seams and the unit tests' fakes load no etcd client, gRPC or SSH", () => {
    const planners = ["./provider/plan/compaction", "./provider/plan/quota", "./provider/plan/drift"];
    const fakes = ["./provider/run/seams", "./test/unit/fake-cluster", "./test/unit/fake-host"];
    assert.deepEqual(clientLibrariesLoadedBy([...planners, ...fakes]), []);
  });

  it("EtcdCompaction's input checks load none either; EtcdQuota's load only yaml, for the config editors", () => {
    assert.deepEqual(clientLibrariesLoadedBy(["./provider/inputs/compaction"]), []);
    assert.deepEqual(clientLibrariesLoadedBy(["./provider/inputs/quota"]), ["yaml"]);
  });

  it("the provider entry loads nothing heavy; EtcdCompaction's provider loads etcd3 and gRPC, no ssh2 or yaml", () => {
    assert.deepEqual(clientLibrariesLoadedBy(["./provider"]), []);
    assert.deepEqual(clientLibrariesLoadedBy(["./provider/resources/compaction"]), ["@grpc/grpc-js", "etcd3"]);
  });

  it("EtcdQuota's provider loads ssh2 only at an SSH login, not with the module", () => {
    assert.deepEqual(clientLibrariesLoadedBy(["./provider/resources/quota"]), ["@grpc/grpc-js", "etcd3", "yaml"]);
    // The check is able to see ssh2 when it is loaded.
    assert.deepEqual(clientLibrariesLoadedBy(["./provider/resources/quota", "ssh2"]), [
      "@grpc/grpc-js",
      "etcd3",
      "ssh2",
      "yaml",
    ]);
  });

  it("the break-glass command (etcd-quota) loads etcd3 and gRPC only: no ssh2, no yaml, no Pulumi", () => {
    assert.deepEqual(clientLibrariesLoadedBy(["./provider/cli/main"]), ["@grpc/grpc-js", "etcd3"]);
  });
});
