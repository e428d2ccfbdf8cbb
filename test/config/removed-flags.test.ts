import assert from "node:assert/strict";
import {
  lacksExperimentalFlags,
  REMOVED_IN_3_7,
  removedFlagsIn,
  removedFlagsProblem,
} from "../../provider/config/removed-flags";
import { fixture } from "./support";

describe("flags etcd 3.7 removed, found in every config format", () => {
  it("finds the two experimental flags kubeadm writes for etcd before 3.6, by line, and none in its manifest for 3.7", () => {
    assert.deepEqual(removedFlagsIn(fixture("kubeadm-etcd.yaml")), [
      { flag: "experimental-initial-corrupt-check", line: 20, as: "argument" },
      { flag: "experimental-watch-progress-notify-interval", line: 21, as: "argument" },
    ]);
    assert.deepEqual(removedFlagsIn(fixture("kubeadm-etcd-3.7.yaml")), []);
  });

  it("finds a k3s etcd-arg entry with or without dashes, and none in a config for a k3s on etcd 3.7", () => {
    const text = fixture("k3s-config.yaml").replace(
      '  - "auto-compaction-mode=periodic"',
      '  - "experimental-bootstrap-defrag-threshold-megabytes=1024"\n  - --experimental-memory-mlock=true',
    );
    assert.deepEqual(
      removedFlagsIn(text).map((u) => [u.flag, u.as]),
      [
        ["experimental-bootstrap-defrag-threshold-megabytes", "argument"],
        ["experimental-memory-mlock", "argument"],
      ],
    );
    assert.deepEqual(removedFlagsIn(fixture("k3s-config-3.7.yaml")), []);
  });

  it("finds a flag in a unit's continued ExecStart and a variable in Environment=, but not in a comment", () => {
    const unit = fixture("runbook-etcd.service")
      .replace("  --snapshot-count=50000", "  --snapshot-count=50000 \\\n  --experimental-compaction-batch-limit 1000")
      .replace(
        "[Service]",
        "[Service]\nEnvironment=ETCD_EXPERIMENTAL_MEMORY_MLOCK=true\n# --experimental-memory-mlock",
      );
    assert.deepEqual(
      removedFlagsIn(unit).map((u) => [u.flag, u.as]),
      [
        ["experimental-memory-mlock", "setting"],
        ["experimental-compaction-batch-limit", "argument"],
      ],
    );
  });

  it("takes env-file variables and etcd config keys as settings (3.7 ignores them), the catch-up alias included", () => {
    const env = `${fixture("kubespray-etcd.env")}ETCD_EXPERIMENTAL_INITIAL_CORRUPT_CHECK=true\n`;
    assert.deepEqual(
      removedFlagsIn(env).map((u) => [u.flag, u.as]),
      [["experimental-initial-corrupt-check", "setting"]],
    );
    const config = `${fixture("etcd.conf.yml")}experimental-snapshot-catch-up-entries: 5000\n"experimental-corrupt-check-time": 5m\n`;
    assert.deepEqual(
      removedFlagsIn(config).map((u) => [u.flag, u.as]),
      [
        ["experimental-snapshot-catch-up-entries", "setting"],
        ["experimental-corrupt-check-time", "setting"],
      ],
    );
    assert.deepEqual(removedFlagsIn(fixture("etcd.conf.yml")), []);
  });

  it("ignores experimental names 3.7 still has or never had as server flags, and look-alikes", () => {
    const text = [
      "ExecStart=/usr/bin/etcd grpc-proxy start --experimental-leasing-prefix=/l",
      "  --my-experimental-memory-mlock=true",
      "ETCD_NOT_EXPERIMENTAL_MEMORY_MLOCK=1",
    ].join("\n");
    assert.deepEqual(removedFlagsIn(text), []);
  });

  it("names each use, what a restart would do and its replacement", () => {
    const message = removedFlagsProblem("/etc/kubernetes/manifests/etcd.yaml", "3.7.3", [
      { flag: "experimental-initial-corrupt-check", line: 20, as: "argument" },
      { flag: "experimental-corrupt-check-time", line: 9, as: "setting" },
    ]);
    assert.equal(
      message,
      "/etc/kubernetes/manifests/etcd.yaml is for an older etcd than the 3.7.3 this member runs: " +
        "--experimental-initial-corrupt-check (line 20) was removed in etcd 3.7; the member would not start: use " +
        "--feature-gates=InitialCorruptCheck=true instead; --experimental-corrupt-check-time (line 9) was removed in " +
        "etcd 3.7; etcd 3.7.3 ignores it, so the member would restart without that setting: use --corrupt-check-time instead",
    );
  });

  it("applies to 3.7 and newer only", () => {
    for (const version of ["3.7.0", "3.7.3", "3.8.0-alpha.0", "4.0.0"])
      assert.equal(lacksExperimentalFlags(version), true);
    for (const version of ["3.4.23", "3.5.35", "3.6.16", "", "garbage"]) {
      assert.equal(lacksExperimentalFlags(version), false, version);
    }
  });

  it("lists the 23 experimental flags (and the config file's alias) with their 3.6 names, and v2 discovery's two", () => {
    const experimental = [...REMOVED_IN_3_7].filter(([flag]) => flag.startsWith("experimental-"));
    assert.equal(experimental.length, 24);
    for (const [flag, replacement] of experimental) {
      assert.match(replacement, /^--(?!experimental-)[a-z-]+(?:=[A-Za-z]+=true)?$/, flag);
    }
    assert.deepEqual(
      [...REMOVED_IN_3_7.keys()].filter((flag) => !flag.startsWith("experimental-")),
      ["discovery", "discovery-proxy"],
    );
  });

  it("finds v2 discovery's flags, but not v3 discovery's that share their start", () => {
    const text = [
      "ExecStart=/usr/bin/etcd --discovery=https://discovery.example/abc \\",
      "  --discovery-srv=example.com --discovery-endpoints=http://10.0.0.1:2379 --discovery-proxy http://proxy:3128",
      "ETCD_DISCOVERY_SRV=example.com",
    ].join("\n");
    assert.deepEqual(
      removedFlagsIn(text).map((u) => [u.flag, u.line]),
      [
        ["discovery", 1],
        ["discovery-proxy", 2],
      ],
    );
    assert.match(
      removedFlagsProblem("/etc/systemd/system/etcd.service", "3.7.3", removedFlagsIn(text)),
      /--discovery-proxy \(line 2\) was removed in etcd 3\.7; the member would not start: remove it \(v3 discovery has no proxy setting\)$/,
    );
  });
});
