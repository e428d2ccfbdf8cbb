import assert from "node:assert/strict";
import { defaultRestartCommand, detectFormat } from "../../provider/config";
import { k3sConfig } from "../../provider/config/k3s-config";
import { changedLines, fixture, refusal } from "./support";

const FILE = "/etc/rancher/k3s/config.yaml";
const GiB8 = 8 * 1024 ** 3;
const sample = fixture("k3s-config.yaml");
const withoutQuota = sample.replace(/^ {2}- "quota-backend-bytes=.*\n/m, "");
const withoutEtcdArgs = sample.replace(/^etcd-arg:\n(?: {2}- .*\n)*/m, "");

describe("k3s and RKE2 config.yaml editor", () => {
  describe("reading", () => {
    it("reads quota-backend-bytes from the etcd-arg list", () => {
      assert.deepEqual(k3sConfig.read(sample, FILE), {
        bytes: 4 * 1024 ** 3,
        location: "etcd-arg quota-backend-bytes (line 15)",
      });
    });

    it("takes the key with its dashes dropped, as k3s does, and a single string for a one-entry list", () => {
      assert.equal(k3sConfig.read('token: x\netcd-arg: ["--quota-backend-bytes=5"]\n', FILE).bytes, 5);
      assert.equal(k3sConfig.read("token: x\netcd-arg: quota-backend-bytes=6\n", FILE).bytes, 6);
    });

    it("reports no quota when no entry sets it, or there is no etcd-arg", () => {
      assert.equal(k3sConfig.read(withoutQuota, FILE).bytes, undefined);
      assert.equal(k3sConfig.read(withoutEtcdArgs, FILE).bytes, undefined);
    });
  });

  describe("writing", () => {
    it("changes only the digits of the entry, keeping quotes, comments and every other setting", () => {
      assert.deepEqual(changedLines(sample, k3sConfig.write(sample, GiB8, FILE)), {
        removed: ['  - "quota-backend-bytes=4294967296"'],
        added: ['  - "quota-backend-bytes=8589934592"'],
      });
    });

    it("adds the entry at the end of the etcd-arg list, indented like the others", () => {
      const written = k3sConfig.write(withoutQuota, GiB8, FILE);
      assert.deepEqual(changedLines(withoutQuota, written), {
        removed: [],
        added: ["  - quota-backend-bytes=8589934592"],
      });
      assert.ok(
        written.includes('  - "auto-compaction-retention=1h"\n  - quota-backend-bytes=8589934592\nkube-apiserver-arg:'),
      );
      assert.equal(k3sConfig.read(written, FILE).bytes, GiB8);
    });

    it("adds an etcd-arg list after the last setting when there is none", () => {
      const written = k3sConfig.write(withoutEtcdArgs, GiB8, FILE);
      assert.ok(written.endsWith("  - traefik\netcd-arg:\n  - quota-backend-bytes=8589934592\n"), written);
      assert.equal(k3sConfig.read(written, FILE).bytes, GiB8);
    });

    it("adds to a flow list in place", () => {
      assert.equal(
        k3sConfig.write('token: x\netcd-arg: ["snapshot-count=5000"]\n', GiB8, FILE),
        'token: x\netcd-arg: ["snapshot-count=5000", quota-backend-bytes=8589934592]\n',
      );
    });
  });

  describe("refusing", () => {
    const cases: [string, string, RegExp][] = [
      [
        "the quota twice",
        'token: x\netcd-arg:\n  - quota-backend-bytes=1\n  - "--quota-backend-bytes=2"\n',
        /the quota is set 2 times: etcd-arg quota-backend-bytes \(line 3\) and etcd-arg quota-backend-bytes \(line 4\); keep one/,
      ],
      [
        "etcd-arg+, which appends to drop-ins",
        "token: x\netcd-arg+:\n  - quota-backend-bytes=1\n",
        /etcd-arg\+ appends to the etcd-arg of files read before this one/,
      ],
      [
        "a value with a unit",
        "token: x\netcd-arg:\n  - quota-backend-bytes=8GiB\n",
        /is "8GiB", which is not a whole number of bytes/,
      ],
      [
        "an entry that is not a string",
        "token: x\netcd-arg:\n  - {a: 1}\n",
        /etcd-arg holds an entry that is not a string \(line 3\)/,
      ],
      [
        "an escaped value",
        'token: x\netcd-arg:\n  - "quota-backend-bytes=\\x31"\n',
        /written with escapes or as a block/,
      ],
      ["another program's YAML", "apiVersion: v1\nkind: ConfigMap\n", /has none of k3s's or RKE2's server settings/],
    ];
    for (const [what, text, message] of cases) {
      it(`refuses ${what}`, () => {
        assert.match(refusal(() => k3sConfig.write(text, GiB8, FILE), FILE).message, message);
      });
    }

    it("refuses to add to a single-string etcd-arg that sets something else", () => {
      const { message } = refusal(() => k3sConfig.write("token: x\netcd-arg: snapshot-count=5\n", GiB8, FILE), FILE);
      assert.match(message, /etcd-arg is a single value; write it as a list/);
    });
  });

  it("is not taken for another program's YAML that shares a name (server, token), but reads a joining server's", () => {
    assert.throws(
      () => detectFormat("/srv/app.yml", "server:\n  port: 8080\nlogging: debug\n"),
      /cannot tell what kind/,
    );
    const joining = 'server: "https://10.0.0.1:6443"\ntoken: "K10example::server:secret"\n';
    assert.equal(detectFormat(FILE, joining), "k3s-config");
    assert.equal(k3sConfig.read(joining, FILE).bytes, undefined);
    assert.ok(k3sConfig.write(joining, GiB8, FILE).endsWith("etcd-arg:\n  - quota-backend-bytes=8589934592\n"));
  });

  it("is told by its content or its place, and restarts k3s or rke2-server by default", () => {
    assert.equal(detectFormat("/tmp/upload", sample), "k3s-config");
    assert.equal(detectFormat("/etc/rancher/rke2/config.yaml", ""), "k3s-config");
    assert.equal(defaultRestartCommand("k3s-config", FILE), "systemctl restart k3s");
    assert.equal(defaultRestartCommand("k3s-config", "/etc/rancher/rke2/config.yaml"), "systemctl restart rke2-server");
  });
});
