import * as assert from "node:assert/strict";
import { clusterIdIn, progressFor } from "../../provider/resources/progress";

/** What `print` wrote to standard output through console.log. */
function printed(print: () => void): string[] {
  const lines: string[] = [];
  const original = console.log;
  console.log = (line: string) => lines.push(line);
  try {
    print();
  } finally {
    console.log = original;
  }
  return lines;
}

describe("progress lines", () => {
  it("start with the type, the resource's name and the cluster's ID", () => {
    const progress = progressFor("EtcdQuota", "prod-quota", "cdf818194e3a8c32");
    assert.deepEqual(
      printed(() => progress("m2: restart")),
      ["EtcdQuota prod-quota (cluster cdf818194e3a8c32): m2: restart"],
    );
  });

  it("leave out what is not known: no name in state older than resourceName, no cluster before the first answer", () => {
    assert.deepEqual(
      printed(() => {
        progressFor("EtcdCompaction", undefined, "2a0d")("done");
        progressFor("EtcdCompaction", "space", undefined)("done");
        progressFor("EtcdCompaction", 42, undefined)("done");
      }),
      ["EtcdCompaction (cluster 2a0d): done", "EtcdCompaction space: done", "EtcdCompaction: done"],
    );
  });

  it("find the cluster's ID in the resource IDs both providers give, and nothing in any other ID", () => {
    assert.equal(clusterIdIn("etcd-quota-cdf818194e3a8c32"), "cdf818194e3a8c32");
    assert.equal(clusterIdIn("etcd-compaction-2a0dbb61bda8a92f"), "2a0dbb61bda8a92f");
    assert.equal(clusterIdIn("etcd-quota-unknown"), undefined);
    assert.equal(clusterIdIn("imported-by-hand"), undefined);
  });
});
