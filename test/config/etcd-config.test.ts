import assert from "node:assert/strict";
import { etcdConfig } from "../../provider/config/etcd-config";
import { changedLines, fixture, refusal } from "./support";

const FILE = "/etc/etcd/etcd.conf.yml";
const GiB8 = 8 * 1024 ** 3;
const sample = fixture("etcd.conf.yml");
const withoutQuota = sample.replace(/^quota-backend-bytes: 0\n/m, "");

describe("etcd config file editor", () => {
  describe("reading", () => {
    it("reads the sample's quota-backend-bytes: 0, which is etcd's 2 GiB default", () => {
      assert.deepEqual(etcdConfig.read(sample, FILE), { bytes: 0, location: "key quota-backend-bytes (line 23)" });
    });

    it("reports no quota when the key is absent", () => {
      assert.equal(etcdConfig.read(withoutQuota, FILE).bytes, undefined);
    });

    it("reports no quota for a file that does not set it", () => {
      assert.equal(etcdConfig.read("# etcd\nname: m1\n", FILE).bytes, undefined);
    });

    it("does not take a nested quota-backend-bytes for the top-level setting", () => {
      assert.equal(etcdConfig.read("name: a\nother:\n  quota-backend-bytes: 5\n", FILE).bytes, undefined);
    });
  });

  describe("writing", () => {
    it("raises the quota keeping comments, quotes, key order and the flow list", () => {
      assert.deepEqual(changedLines(sample, etcdConfig.write(sample, GiB8, FILE)), {
        removed: ["quota-backend-bytes: 0"],
        added: ["quota-backend-bytes: 8589934592"],
      });
    });

    it("keeps a comment after the value", () => {
      const text = "name: a\nquota-backend-bytes: 1 # raised in March\nlogger: zap\n";
      assert.equal(etcdConfig.write(text, 2, FILE), "name: a\nquota-backend-bytes: 2 # raised in March\nlogger: zap\n");
    });

    it("adds the key after the last top-level key when absent", () => {
      const written = etcdConfig.write(withoutQuota, GiB8, FILE);
      assert.deepEqual(changedLines(withoutQuota, written), {
        removed: [],
        added: ["quota-backend-bytes: 8589934592"],
      });
      assert.ok(written.endsWith("tls-max-version: 'TLS1.3'\nquota-backend-bytes: 8589934592\n"));
    });

    it("adds the key after a nested last key, at the top level, before trailing comments", () => {
      const text = "name: a\npeer-transport-security:\n  cert-file: /p.crt\n  key-file: /p.key\n# the end\n";
      assert.equal(
        etcdConfig.write(text, 5, FILE),
        "name: a\npeer-transport-security:\n  cert-file: /p.crt\n  key-file: /p.key\nquota-backend-bytes: 5\n# the end\n",
      );
    });

    it("adds the key to a file without a final line break", () => {
      assert.equal(etcdConfig.write("name: a", 5, FILE), "name: a\nquota-backend-bytes: 5\n");
    });
  });

  describe("refusing", () => {
    it("refuses YAML with none of etcd's settings: an empty file, or another program's config", () => {
      for (const text of ["", "# nothing yet\n", "server:\n  port: 8080\nlogging: debug\n"]) {
        const { message } = refusal(() => etcdConfig.write(text, GiB8, FILE), FILE);
        assert.match(message, /has none of etcd's settings \(name, data-dir, .*\), so it is not etcd's config file/);
      }
    });

    it("refuses YAML whose aliases expand without bound, as etcd's parser does", () => {
      const laughs = ["name: m1", 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
      for (const [i, name] of ["b", "c", "d", "e", "f", "g", "h", "i"].entries()) {
        const previous = String.fromCharCode("a".charCodeAt(0) + i);
        laughs.push(`${name}: &${name} [${Array(9).fill(`*${previous}`).join(",")}]`);
      }
      const { message } = refusal(() => etcdConfig.read(`${laughs.join("\n")}\n`, FILE), FILE);
      assert.match(message, /its YAML aliases expand too much .*"document contains excessive aliasing"/);
      // A file with an alias or two, which etcd reads, is fine.
      assert.equal(etcdConfig.read("name: &n m1\ninitial-cluster-token: *n\nquota-backend-bytes: 5\n", FILE).bytes, 5);
    });

    it("refuses invalid YAML, giving the line", () => {
      const { message } = refusal(() => etcdConfig.read("name: a\n\tlogger: zap\n", FILE), FILE);
      assert.equal(message, `${FILE}: not valid YAML: Tabs are not allowed as indentation at line 2, column 1`);
    });

    it("refuses a key given twice, giving the line", () => {
      const text = "quota-backend-bytes: 1\nname: a\nquota-backend-bytes: 2\n";
      assert.match(refusal(() => etcdConfig.write(text, 5, FILE), FILE).message, /unique at line 3/);
    });

    it("refuses a file that is not a mapping", () => {
      const { message } = refusal(() => etcdConfig.read("- name: a\n", FILE), FILE);
      assert.match(message, /top level is not a mapping/);
    });

    it("refuses to add the key to a flow mapping, which would need rewriting, but edits one in place", () => {
      assert.match(refusal(() => etcdConfig.write("{name: a}\n", 5, FILE), FILE).message, /flow mapping/);
      assert.equal(
        etcdConfig.write("{name: a, quota-backend-bytes: 1}\n", 5, FILE),
        "{name: a, quota-backend-bytes: 5}\n",
      );
    });

    for (const value of [`"8589934592"`, "8e9", "8GiB", "0x200000000", "[1]", "8589934592.0"]) {
      it(`refuses the value ${value}, which etcd cannot decode into an integer`, () => {
        const { message } = refusal(() => etcdConfig.read(`quota-backend-bytes: ${value}\n`, FILE), FILE);
        assert.match(message, /key quota-backend-bytes \(line 1\) is .* not a whole number of bytes/);
      });
    }

    it("refuses an empty value", () => {
      const { message } = refusal(() => etcdConfig.write("quota-backend-bytes:\nname: a\n", 5, FILE), FILE);
      assert.match(message, /key quota-backend-bytes \(line 1\) has no value/);
    });
  });
});
