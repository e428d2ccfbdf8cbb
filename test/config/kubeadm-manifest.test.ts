import assert from "node:assert/strict";
import { kubeadmManifest } from "../../provider/config/kubeadm-manifest";
import { changedLines, fixture, refusal } from "./support";

const FILE = "/etc/kubernetes/manifests/etcd.yaml";
const GiB8 = 8 * 1024 ** 3;
const manifest = fixture("kubeadm-etcd.yaml");
const withQuota = manifest.replace(
  "    - --snapshot-count=10000\n",
  "    - --quota-backend-bytes=4294967296\n    - --snapshot-count=10000\n",
);
const withArgs = manifest.replace("  - command:\n    - etcd\n", "  - args:\n");

/** A one-container manifest whose container is given as YAML lines indented for `containers:`. */
function pod(container: string): string {
  return `apiVersion: v1\nkind: Pod\nmetadata:\n  name: etcd\nspec:\n  containers:\n${container}\n`;
}

describe("kubeadm manifest editor", () => {
  describe("reading", () => {
    it("reports no quota for kubeadm's v1.30 manifest, naming the command list", () => {
      assert.deepEqual(kubeadmManifest.read(manifest, FILE), {
        bytes: undefined,
        location: 'container "etcd" command (line 15)',
      });
    });

    it("reads --quota-backend-bytes from the etcd container's command", () => {
      assert.deepEqual(kubeadmManifest.read(withQuota, FILE), {
        bytes: 4294967296,
        location: 'container "etcd" command (line 34)',
      });
    });

    it("reads the flag from args when the flags are there", () => {
      const text = withArgs.replace("    - --snapshot-count", "    - --quota-backend-bytes=5\n    - --snapshot-count");
      assert.deepEqual(kubeadmManifest.read(text, FILE), { bytes: 5, location: 'container "etcd" args (line 33)' });
    });

    it("reads a flag whose value is the next item, and a quoted one", () => {
      const separate = pod(`  - name: etcd\n    command:\n    - etcd\n    - --quota-backend-bytes\n    - "5"`);
      assert.equal(kubeadmManifest.read(separate, FILE).bytes, 5);
      const quoted = pod(`  - name: etcd\n    command: ["etcd", "--quota-backend-bytes=6"]`);
      assert.equal(kubeadmManifest.read(quoted, FILE).bytes, 6);
    });

    it("reads ETCD_QUOTA_BACKEND_BYTES from env when no flag is given", () => {
      const text = pod(
        `  - name: etcd\n    command:\n    - etcd\n    env:\n    - name: ETCD_QUOTA_BACKEND_BYTES\n      value: "7"`,
      );
      assert.deepEqual(kubeadmManifest.read(text, FILE), {
        bytes: 7,
        location: 'container "etcd" env ETCD_QUOTA_BACKEND_BYTES (line 11)',
      });
    });

    it("refuses the quota as both a flag and an env entry, which etcd will not start with", () => {
      const text = pod(
        `  - name: etcd\n    command:\n    - etcd\n    - --quota-backend-bytes=8\n    env:\n    - name: ETCD_QUOTA_BACKEND_BYTES\n      value: "7"`,
      );
      assert.match(refusal(() => kubeadmManifest.read(text, FILE), FILE).message, /etcd refuses to start with both/);
    });

    it("finds the etcd container among others", () => {
      const text = pod(
        `  - name: sidecar\n    command: [sh]\n  - name: etcd\n    command:\n    - /usr/local/bin/etcd\n    - --quota-backend-bytes=9`,
      );
      assert.equal(kubeadmManifest.read(text, FILE).bytes, 9);
    });
  });

  describe("writing", () => {
    it("adds --quota-backend-bytes in kubeadm's name order, keeping comments and probes", () => {
      const written = kubeadmManifest.write(manifest, GiB8, FILE);
      assert.deepEqual(changedLines(manifest, written), {
        removed: [],
        added: ["    - --quota-backend-bytes=8589934592"],
      });
      // The comment above --snapshot-count stays with it.
      assert.ok(
        written.includes(
          "    - --peer-trusted-ca-file=/etc/kubernetes/pki/etcd/ca.crt\n    - --quota-backend-bytes=8589934592\n    # Snapshot",
        ),
      );
    });

    it("raises an existing flag in place", () => {
      assert.deepEqual(changedLines(withQuota, kubeadmManifest.write(withQuota, GiB8, FILE)), {
        removed: ["    - --quota-backend-bytes=4294967296"],
        added: ["    - --quota-backend-bytes=8589934592"],
      });
    });

    it("adds the flag to args when the flags are there", () => {
      assert.deepEqual(changedLines(withArgs, kubeadmManifest.write(withArgs, GiB8, FILE)), {
        removed: [],
        added: ["    - --quota-backend-bytes=8589934592"],
      });
      assert.match(kubeadmManifest.write(withArgs, GiB8, FILE), /ca\.crt\n {4}- --quota-backend-bytes=8589934592\n/);
    });

    it("adds the flag last when every flag sorts before it", () => {
      const text = pod(
        `  - name: etcd\n    command:\n      - etcd\n      - --name=a # kubeadm sorts these\n    image: etcd`,
      );
      assert.equal(
        kubeadmManifest.write(text, 5, FILE),
        pod(
          `  - name: etcd\n    command:\n      - etcd\n      - --name=a # kubeadm sorts these\n      - --quota-backend-bytes=5\n    image: etcd`,
        ),
      );
    });

    it("keeps the quotes of a quoted item and of a quoted env value", () => {
      const quotedItem = pod(`  - name: etcd\n    command: ["etcd", '--quota-backend-bytes=6']`);
      assert.equal(
        kubeadmManifest.write(quotedItem, 10, FILE),
        pod(`  - name: etcd\n    command: ["etcd", '--quota-backend-bytes=10']`),
      );
      const quotedEnv = pod(
        `  - name: etcd\n    command: ["etcd"]\n    env:\n    - {name: ETCD_QUOTA_BACKEND_BYTES, value: "6"}`,
      );
      assert.equal(
        kubeadmManifest.write(quotedEnv, 10, FILE),
        pod(`  - name: etcd\n    command: ["etcd"]\n    env:\n    - {name: ETCD_QUOTA_BACKEND_BYTES, value: "10"}`),
      );
    });

    it("edits the env entry in place when that is where the quota is", () => {
      const text = pod(
        `  - name: etcd\n    command:\n    - etcd\n    env:\n    - name: ETCD_QUOTA_BACKEND_BYTES\n      value: "7"`,
      );
      assert.deepEqual(changedLines(text, kubeadmManifest.write(text, 8, FILE)), {
        removed: [`      value: "7"`],
        added: [`      value: "8"`],
      });
    });
  });

  describe("refusing", () => {
    it("refuses a manifest that is not a Pod", () => {
      const text = manifest.replace("kind: Pod", "kind: Deployment");
      assert.match(
        refusal(() => kubeadmManifest.read(text, FILE), FILE).message,
        /not a static Pod manifest \(kind: Deployment\)/,
      );
    });

    it("refuses a Pod without an etcd container, listing the containers it has", () => {
      const text = manifest.replace("    name: etcd\n    readinessProbe", "    name: etcd-main\n    readinessProbe");
      const { message } = refusal(() => kubeadmManifest.write(text, GiB8, FILE), FILE);
      assert.match(message, /no container named "etcd" \(containers: "etcd-main"\)/);
    });

    it("refuses --config-file in the command, pointing at the config file that really holds the quota", () => {
      const text = manifest.replace(
        "    - --data-dir",
        "    - --config-file=/etc/etcd/etcd.conf.yml\n    - --data-dir",
      );
      for (const action of [() => kubeadmManifest.read(text, FILE), () => kubeadmManifest.write(text, GiB8, FILE)]) {
        const { message } = refusal(action, FILE);
        assert.match(
          message,
          /container "etcd" command \(line 19\) makes etcd read its settings from \/etc\/etcd\/etcd\.conf\.yml/,
        );
        assert.match(message, /format "etcd-config"/);
      }
    });

    it("refuses ETCD_CONFIG_FILE in env", () => {
      const text = pod(
        `  - name: etcd\n    command: [etcd]\n    env:\n    - name: ETCD_CONFIG_FILE\n      value: /etc/etcd/etcd.conf.yml`,
      );
      assert.match(refusal(() => kubeadmManifest.read(text, FILE), FILE).message, /env ETCD_CONFIG_FILE \(line 10\)/);
    });

    it("refuses the flag given twice, naming both lines", () => {
      const text = withQuota.replace("    - --name=cp-1\n", "    - --name=cp-1\n    - --quota-backend-bytes=1\n");
      const { message } = refusal(() => kubeadmManifest.write(text, GiB8, FILE), FILE);
      assert.match(message, /container "etcd" command \(line 29\) and container "etcd" command \(line 35\)/);
    });

    it("refuses an env value taken from valueFrom", () => {
      const text = pod(
        `  - name: etcd\n    command: [etcd]\n    env:\n    - name: ETCD_QUOTA_BACKEND_BYTES\n      valueFrom:\n        configMapKeyRef: {name: etcd, key: quota}`,
      );
      assert.match(refusal(() => kubeadmManifest.read(text, FILE), FILE).message, /valueFrom/);
    });

    it("refuses a command that does not run etcd", () => {
      const text = pod(`  - name: etcd\n    command: [sh, -c, "etcd --quota-backend-bytes=1"]`);
      assert.match(refusal(() => kubeadmManifest.read(text, FILE), FILE).message, /runs sh, not etcd/);
    });

    it("reads no quota from a container that runs the image's own command, but refuses to add one there", () => {
      const text = pod(`  - name: etcd\n    image: registry.k8s.io/etcd:3.5.12-0`);
      assert.equal(kubeadmManifest.read(text, FILE).bytes, undefined);
      assert.match(refusal(() => kubeadmManifest.write(text, 5, FILE), FILE).message, /neither command nor args/);
    });

    it("refuses to add the flag to a flow list, which would need reformatting", () => {
      const text = pod(`  - name: etcd\n    command: [etcd, --name=a]`);
      assert.equal(kubeadmManifest.read(text, FILE).bytes, undefined);
      assert.match(
        refusal(() => kubeadmManifest.write(text, 5, FILE), FILE).message,
        /not written one "- item" per line/,
      );
    });

    for (const value of ["8Gi", "8e9", "", "0x10"]) {
      it(`refuses the value "${value}"`, () => {
        const text = manifest.replace(
          "    - --snapshot-count",
          `    - --quota-backend-bytes=${value}\n    - --snapshot-count`,
        );
        const { message } = refusal(() => kubeadmManifest.read(text, FILE), FILE);
        assert.match(message, /container "etcd" command \(line 34\) (is|has no value)/);
      });
    }

    it("refuses invalid YAML, giving the line", () => {
      const text = manifest.replace("  hostNetwork: true", "\thostNetwork: true");
      assert.match(refusal(() => kubeadmManifest.read(text, FILE), FILE).message, /not valid YAML: .*line 77/);
    });
  });
});
