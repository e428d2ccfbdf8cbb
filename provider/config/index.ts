import { envFile } from "./env-file";
import { etcdConfig } from "./etcd-config";
import type { ConfigEditor, ConfigFormat } from "./format";
import { k3sConfig } from "./k3s-config";
import { kubeadmManifest } from "./kubeadm-manifest";
import { systemdUnit } from "./systemd-unit";

export { detectFormat, formatOfContent, looksOf } from "./detect";
export { CONFIG_FORMATS, type ConfigEditor, type ConfigFormat, type QuotaInFile, parseFormat } from "./format";

const EDITORS: Readonly<Record<ConfigFormat, ConfigEditor>> = {
  "systemd-unit": systemdUnit,
  "env-file": envFile,
  "etcd-config": etcdConfig,
  "kubeadm-manifest": kubeadmManifest,
  "k3s-config": k3sConfig,
};

/** The editor for a format. */
export function editorFor(format: ConfigFormat): ConfigEditor {
  return EDITORS[format];
}
