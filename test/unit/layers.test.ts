import * as assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as path from "node:path";

const ROOT = path.join(__dirname, "../..");

/** The client libraries a module loads, found in a fresh Node process's module cache after requiring it alone. */
function clientLibrariesLoadedBy(modules: readonly string[]): string[] {
  const script = `
    for (const m of ${JSON.stringify(modules)}) require(m);
    const names = Object.keys(require.cache)
      .map((p) => /node_modules\\/((?:@[^/]+\\/)?[^/]+)\\//.exec(p)?.[1])
      .filter((name) => name === "etcd3" || name === "@grpc/grpc-js" || name === "ssh2");
    process.stdout.write(JSON.stringify([...new Set(names)].sort()));
  `;
  const output = execFileSync(process.execPath, ["-r", "ts-node/register/transpile-only", "-e", script], {
    cwd: ROOT,
    encoding: "utf8",
  });
  return JSON.parse(output) as string[];
}

describe("layers: pure logic loads no client", function () {
  this.timeout(60_000);

  it("the planners, the drift rules, the runs' seams and the unit tests' fakes load no etcd client, gRPC or SSH", () => {
    const planners = ["./provider/plan/compaction", "./provider/plan/quota", "./provider/plan/drift"];
    const fakes = ["./provider/seams", "./test/unit/fake-cluster", "./test/unit/fake-host"];
    assert.deepEqual(clientLibrariesLoadedBy([...planners, ...fakes]), []);
  });

  it("EtcdCompaction's input checks load none either; EtcdQuota's load only ssh2, for its host key parser", () => {
    assert.deepEqual(clientLibrariesLoadedBy(["./provider/inputs/compaction", "./provider/config"]), []);
    assert.deepEqual(clientLibrariesLoadedBy(["./provider/inputs/quota"]), ["ssh2"]);
  });

  it("the check is able to see them: the providers load all three", () => {
    assert.deepEqual(clientLibrariesLoadedBy(["./provider"]), ["@grpc/grpc-js", "etcd3", "ssh2"]);
  });
});
