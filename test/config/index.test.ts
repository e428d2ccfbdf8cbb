import assert from "node:assert/strict";
import { CONFIG_FORMATS, type ConfigFormat, detectFormat, editorFor, parseFormat } from "../../provider/config";
import { InvalidInputError } from "../../provider/errors";
import { fixture, refusal } from "./support";

describe("config formats", () => {
  describe("detectFormat", () => {
    for (const [file, path, format] of [
      ["runbook-etcd.service", "/etc/systemd/system/etcd.service", "systemd-unit"],
      ["kubespray-etcd.service", "/etc/systemd/system/etcd.service", "systemd-unit"],
      ["kubespray-etcd.env", "/etc/etcd.env", "env-file"],
      ["etcd.conf.yml", "/etc/etcd/etcd.conf.yml", "etcd-config"],
      ["kubeadm-etcd.yaml", "/etc/kubernetes/manifests/etcd.yaml", "kubeadm-manifest"],
      ["k3s-config.yaml", "/etc/rancher/k3s/config.yaml", "k3s-config"],
    ] as const) {
      it(`tells ${file} is ${format} by its content, whatever its name`, () => {
        assert.equal(detectFormat(path, fixture(file)), format);
        assert.equal(detectFormat("/tmp/upload", fixture(file)), format);
      });
    }

    it("tells a drop-in that replaces ExecStart= is a systemd unit", () => {
      assert.equal(detectFormat("/x", "[Service]\nExecStart=\nExecStart=/usr/bin/etcd\n"), "systemd-unit");
    });

    it("uses the name only when the file says nothing yet", () => {
      const cases: [string, string, ConfigFormat][] = [
        ["/etc/etcd.env", "", "env-file"],
        ["/etc/default/etcd", "# ETCD_NAME=default\nDAEMON_ARGS=\n", "env-file"],
        ["/etc/etcd/etcd.conf.yml", "# empty for now\n", "etcd-config"],
        ["/etc/kubernetes/manifests/etcd.yaml", "", "kubeadm-manifest"],
        ["/etc/systemd/system/etcd.service.d/quota.conf", "", "systemd-unit"],
      ];
      for (const [file, text, format] of cases) assert.equal(detectFormat(file, text), format, file);
    });

    it("does not let a YAML name turn another kind of YAML into an etcd config file", () => {
      const text = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: x\n";
      const { message } = refusal(() => detectFormat("/srv/app.yaml", text), "/srv/app.yaml");
      assert.match(message, /cannot tell what kind of etcd configuration this is; set format to one of/);
      for (const format of CONFIG_FORMATS) assert.ok(message.includes(`"${format}"`), format);
    });
  });

  describe("parseFormat", () => {
    it("accepts every format name", () => {
      for (const format of CONFIG_FORMATS) assert.equal(parseFormat(format, "format"), format);
    });

    it("refuses anything else, naming the field and the formats that exist", () => {
      assert.throws(
        () => parseFormat("yaml", "members[0].format"),
        (error: unknown) =>
          error instanceof InvalidInputError &&
          error.message ===
            'members[0].format: expected one of "systemd-unit", "env-file", "etcd-config", "kubeadm-manifest", "k3s-config", got "yaml"',
      );
      assert.throws(() => parseFormat(undefined, "format"), InvalidInputError);
    });
  });

  describe("editorFor", () => {
    it("gives the editor of each format", () => {
      for (const format of CONFIG_FORMATS) assert.equal(editorFor(format).format, format);
    });
  });
});
