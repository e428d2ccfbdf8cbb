import { isMap, isScalar, parseDocument } from "yaml";
import { ConfigFileError } from "../errors";
import { ETCD_CONFIG_KEYS } from "./etcd-config";
import { K3S_ONLY_KEYS } from "./k3s-config";
import { CONFIG_FORMATS, type ConfigFormat } from "./format";
import { stringOf, valueOf } from "./yaml-source";

/** What each format looks like, for the message that asks the user to choose. */
const LOOKS: Readonly<Record<ConfigFormat, string>> = {
  "systemd-unit": "a unit with [Service] and ExecStart=",
  "env-file": "ETCD_*=value lines",
  "etcd-config": "the YAML file of etcd --config-file",
  "kubeadm-manifest": "a static Pod manifest",
  "k3s-config": "the config.yaml of a k3s or RKE2 server",
};

/** File names that tell the format when the content does not. */
const NAMES: readonly (readonly [RegExp, ConfigFormat])[] = [
  [/\.service$|\.service\.d\/[^/]+\.conf$/, "systemd-unit"],
  [/\.env$|(?:^|\/)(?:default|sysconfig)\/etcd$/, "env-file"],
  [/(?:^|\/)manifests\/[^/]+\.ya?ml$/, "kubeadm-manifest"],
  [/(?:^|\/)rancher\/(?:k3s|rke2)\/config\.ya?ml$/, "k3s-config"],
  [/\.ya?ml$/, "etcd-config"],
];

const ASSIGNMENT = /^(?:export[ \t]+)?([A-Za-z_][A-Za-z0-9_]*)[ \t]*=/;

/** The lines that say something: trimmed, without blank lines and comments. */
function contentLines(text: string): string[] {
  return text
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "" && !/^[#;]/.test(line));
}

/**
 * The format the content alone shows (never the name), or undefined when it shows none, e.g. an empty file. Used to
 * refuse a `format` given by the user that the file contradicts: each editor would otherwise add its setting to a
 * file of another kind, where etcd never sees it.
 */
export function formatOfContent(text: string): ConfigFormat | undefined {
  return formatFromContent(text, contentLines(text));
}

/** What a format looks like, for messages. */
export function looksOf(format: ConfigFormat): string {
  return LOOKS[format];
}

function formatFromContent(text: string, lines: readonly string[]): ConfigFormat | undefined {
  if (lines.some((line) => line === "[Service]" || /^ExecStart[ \t]*=/.test(line))) return "systemd-unit";
  const yaml = parseDocument(text);
  if (yaml.errors.length === 0 && isMap(yaml.contents)) {
    const kind = stringOf(valueOf(yaml.contents, "kind"));
    if (kind === "Pod") return "kubeadm-manifest";
    const keys = yaml.contents.items.map((pair) => (isScalar(pair.key) ? String(pair.key.value) : ""));
    // k3s and RKE2 share a few names with etcd (data-dir); their own settings tell them apart.
    if (kind === undefined && keys.some((key) => K3S_ONLY_KEYS.has(key))) return "k3s-config";
    if (kind === undefined && keys.some((key) => ETCD_CONFIG_KEYS.has(key))) return "etcd-config";
  }
  const names = lines.map((line) => ASSIGNMENT.exec(line)?.[1]);
  if (names.length > 0 && names.every((name) => name !== undefined) && names.some((name) => name.startsWith("ETCD_"))) {
    return "env-file";
  }
  return undefined;
}

/**
 * Tells the format of a config file, by content first and by name second: `[Service]`/`ExecStart=` is a systemd
 * unit, YAML with `kind: Pod` a kubeadm manifest, a YAML mapping with etcd's keys an etcd config file, `NAME=value`
 * lines with `ETCD_` names an env file, k3s's own settings a k3s or RKE2 config.yaml. The name decides only for a
 * file with nothing in it yet (or, for an env file name, only assignments; for k3s's and RKE2's config.yaml, its
 * place), where guessing wrong cannot edit the wrong kind of file.
 */
export function detectFormat(file: string, text: string): ConfigFormat {
  const lines = contentLines(text);
  const byContent = formatFromContent(text, lines);
  if (byContent) return byContent;
  const onlyAssignments = lines.every((line) => ASSIGNMENT.test(line));
  const byName = NAMES.find(([pattern]) => pattern.test(file))?.[1];
  // /etc/rancher/{k3s,rke2}/config.yaml is that file wherever it is found, even when it holds only settings other
  // programs also use (a server joining a cluster: `server` and `token`); its editor still wants one of them.
  if (byName && (lines.length === 0 || (byName === "env-file" && onlyAssignments) || byName === "k3s-config")) {
    return byName;
  }
  // A .yml/.yaml file that does not parse: its editor reports the YAML error and its line, which says more than
  // "cannot tell what kind" (and it edits nothing, since it refuses to read the file).
  const yamlByName = byName === "etcd-config" || byName === "kubeadm-manifest";
  if (yamlByName && parseDocument(text).errors.length > 0) return byName;
  const choices = CONFIG_FORMATS.map((format) => `"${format}" (${LOOKS[format]})`).join(", ");
  throw new ConfigFileError(
    file,
    `cannot tell what kind of etcd configuration this is; set format to one of ${choices}`,
  );
}
