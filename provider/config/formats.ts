import { InvalidInputError } from "../errors";
import { describeValue } from "../values/shown";
import { defaultBackupPath } from "./backups";
import { envFileFormat } from "./env-file";
import { etcdConfigFormat } from "./etcd-config";
import type { ConfigEditor, FormatSpec } from "./format";
import { k3sConfigFormat } from "./k3s-config";
import { kubeadmManifestFormat } from "./kubeadm-manifest";
import { systemdUnitFormat } from "./systemd-unit";

/** Every format, in the order messages list them: a new format is its own file and one line here. */
const FORMATS = [systemdUnitFormat, envFileFormat, etcdConfigFormat, kubeadmManifestFormat, k3sConfigFormat] as const;

/** The kinds of file an etcd member's quota can live in. */
export type ConfigFormat = (typeof FORMATS)[number]["format"];

/** Every format, in the order messages list them. */
export const CONFIG_FORMATS: readonly ConfigFormat[] = FORMATS.map((spec) => spec.format);

/** The formats in the order a file is recognised (see {@link FormatSpec.precedence}). */
export const RECOGNITION_ORDER: readonly FormatSpec<ConfigFormat>[] = [...FORMATS].sort(
  (a, b) => a.precedence - b.precedence,
);

/** The spec of a format. */
export function specOf(format: ConfigFormat): FormatSpec<ConfigFormat> {
  return FORMATS.find((spec) => spec.format === format)!;
}

/** The editor for a format. */
export function editorFor(format: ConfigFormat): ConfigEditor {
  return specOf(format).editor;
}

/** What a format looks like, for messages. */
export function looksOf(format: ConfigFormat): string {
  return specOf(format).looks;
}

/** The restart each format needs when the user gives none ("" for none: the kubelet restarts a manifest's pod). */
export function defaultRestartCommand(format: ConfigFormat, configFile: string): string {
  return specOf(format).defaultRestartCommand(configFile);
}

/** Validates a format name given by a user; `field` names the input in the message. */
export function parseFormat(value: unknown, field: string): ConfigFormat {
  const format = CONFIG_FORMATS.find((f) => f === value);
  if (format === undefined) {
    throw new InvalidInputError(
      field,
      `expected one of ${CONFIG_FORMATS.map((f) => `"${f}"`).join(", ")}, got ${describeValue(value)}`,
    );
  }
  return format;
}

/** Where the file's backup goes before an edit: the hosts' plain name, as the format needs it. */
export function backupPathFor(format: ConfigFormat, file: string, now = new Date()): string {
  const plain = defaultBackupPath(file, now);
  return specOf(format).backupPath?.(plain) ?? plain;
}
