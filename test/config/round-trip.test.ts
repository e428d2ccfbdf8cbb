import assert from "node:assert/strict";
import { type ConfigFormat, editorFor } from "../../provider/config";
import { changedLines, fixture } from "./support";

/** Every fixture, and variants without a quota so that adding it is covered too. */
const CASES: { name: string; format: ConfigFormat; text: string }[] = [
  { name: "the runbook's unit", format: "systemd-unit", text: fixture("runbook-etcd.service") },
  { name: "kubespray's unit", format: "systemd-unit", text: fixture("kubespray-etcd.service") },
  { name: "kubespray's /etc/etcd.env", format: "env-file", text: fixture("kubespray-etcd.env") },
  {
    name: "kubespray's /etc/etcd.env without a quota",
    format: "env-file",
    text: fixture("kubespray-etcd.env").replace(/^ETCD_QUOTA_BACKEND_BYTES=.*\n/m, ""),
  },
  { name: "an etcd config file", format: "etcd-config", text: fixture("etcd.conf.yml") },
  {
    name: "an etcd config file without a quota",
    format: "etcd-config",
    text: fixture("etcd.conf.yml").replace(/^quota-backend-bytes: .*\n/m, ""),
  },
  { name: "kubeadm's manifest", format: "kubeadm-manifest", text: fixture("kubeadm-etcd.yaml") },
  { name: "a k3s server's config.yaml", format: "k3s-config", text: fixture("k3s-config.yaml") },
  {
    name: "a k3s server's config.yaml without a quota",
    format: "k3s-config",
    text: fixture("k3s-config.yaml").replace(/^ {2}- "quota-backend-bytes=.*\n/m, ""),
  },
  {
    // kubeadm for etcd 3.6 (Kubernetes 1.34+): the feature gate and flag that replaced the --experimental-* ones.
    name: "kubeadm's manifest for etcd 3.6",
    format: "kubeadm-manifest",
    text: fixture("kubeadm-etcd.yaml")
      .replace("--experimental-initial-corrupt-check=true", "--feature-gates=InitialCorruptCheck=true")
      .replace("--experimental-watch-progress-notify-interval", "--watch-progress-notify-interval")
      .replace("etcd:3.5.12-0", "etcd:3.6.5-0"),
  },
  // kubeadm writes the same flags for etcd 3.7 (in name order); the experimental ones would keep 3.7 from starting.
  { name: "kubeadm's manifest for etcd 3.7", format: "kubeadm-manifest", text: fixture("kubeadm-etcd-3.7.yaml") },
  { name: "a k3s server's config.yaml on etcd 3.7", format: "k3s-config", text: fixture("k3s-config-3.7.yaml") },
];

const QUOTA = /quota-backend-bytes|QUOTA_BACKEND_BYTES/;
// What adding the flag to an existing line looks like, so the line can be compared with the one before.
const ADDED_FLAG = / --quota-backend-bytes=-?[0-9]+/;

describe("every editor, on every fixture", () => {
  for (const { name, format, text } of CASES) {
    const editor = editorFor(format);
    const file = `fixture: ${name}`;

    for (const bytes of [0, -1, 2 ** 31, 10240000000, 8 * 1024 ** 3, Number.MAX_SAFE_INTEGER]) {
      it(`reads back ${bytes} after writing it into ${name}, changing only quota lines`, () => {
        const written = editor.write(text, bytes, file);
        assert.equal(editor.read(written, file).bytes, bytes);
        const { removed, added } = changedLines(text, written);
        for (const line of added) assert.match(line, QUOTA);
        for (const line of removed) {
          assert.ok(
            QUOTA.test(line) || added.some((a) => a.replace(ADDED_FLAG, "") === line),
            `a line that is not about the quota changed: ${line}`,
          );
        }
      });
    }

    it(`leaves ${name} as it is when the quota is already right`, () => {
      const current = editor.read(text, file).bytes;
      const bytes = current ?? 4294967296;
      const once = current === undefined ? editor.write(text, bytes, file) : text;
      assert.equal(editor.write(once, bytes, file), once);
    });
  }
});
