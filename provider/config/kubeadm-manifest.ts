import { type ParsedNode, Scalar, type YAMLMap, type YAMLSeq, isMap, isScalar, isSeq } from "yaml";
import { ConfigFileError } from "../errors";
import { findFlag, flagName, runsEtcd } from "./flags";
import * as path from "path";
import type { ConfigEditor, FormatSpec } from "./format";
import {
  CONFIG_FILE_FLAG,
  CONFIG_FILE_VARIABLE,
  QUOTA_FLAG,
  QUOTA_VARIABLE,
  type QuotaSetting,
  atMostOne,
  checkWritableQuota,
  noValue,
  oneOfFlagOrVariable,
  parseQuota,
  quotaOf,
  rewriteSettings,
  shadowedByConfigFile,
} from "./quota";
import { type Edit, applyEdits, insertLine, lineNumbering, lineStart, nextLineStart } from "./text";
import { parseYaml, stringOf, valueOf } from "./yaml-source";

const CONTAINER = "etcd";

/** One item of the container's `command` or `args`: Kubernetes runs the command with the args after it. */
interface Argument {
  readonly node: Scalar.Parsed;
  readonly text: string;
  readonly list: "command" | "args";
}

/** The quota settings of the manifest, strongest first, and how to add the flag. */
interface ManifestQuota {
  readonly settings: QuotaSetting[];
  readonly addFlag: (flag: string) => Edit;
  readonly absent: string;
}

function etcdContainer(root: ParsedNode | null, file: string): YAMLMap.Parsed {
  const kind = isMap(root) ? stringOf(valueOf(root, "kind")) : undefined;
  if (!isMap(root) || kind !== "Pod") {
    throw new ConfigFileError(file, `is not a static Pod manifest (kind: ${kind ?? "none"})`);
  }
  const spec = valueOf(root, "spec");
  const containers = isMap(spec) ? valueOf(spec, "containers") : undefined;
  if (!isSeq(containers)) throw new ConfigFileError(file, "has no spec.containers list");
  const maps = containers.items.filter((node) => isMap(node));
  const etcd = maps.filter((c) => stringOf(valueOf(c, "name")) === CONTAINER);
  if (etcd.length !== 1) {
    const names = maps.map((c) => `"${stringOf(valueOf(c, "name"))}"`).join(", ");
    throw new ConfigFileError(
      file,
      `has ${etcd.length === 0 ? "no" : etcd.length} container${etcd.length > 1 ? "s" : ""} named "${CONTAINER}" ` +
        `(containers: ${names || "none"})`,
    );
  }
  return etcd[0];
}

function argumentList(container: YAMLMap.Parsed, list: Argument["list"], file: string): YAMLSeq.Parsed | undefined {
  const node = valueOf(container, list);
  if (node === undefined || node === null) return undefined;
  if (!isSeq(node) || !node.items.every((item) => isScalar(item))) {
    throw new ConfigFileError(file, `container "${CONTAINER}" ${list} is not a list of strings`);
  }
  return node;
}

function argumentsOf(seq: YAMLSeq.Parsed | undefined, list: Argument["list"]): Argument[] {
  return (seq?.items ?? []).filter((node) => isScalar(node)).map((node) => ({ node, text: String(node.value), list }));
}

/** A setting whose value ends the scalar `node`; `value` is what YAML reads there. */
function scalarSetting(
  text: string,
  node: Scalar.Parsed | undefined,
  value: string | undefined,
  location: string,
  file: string,
): QuotaSetting {
  if (node === undefined || value === undefined) throw noValue(file, location);
  const bytes = parseQuota(value, file, location);
  const quoted = node.type === Scalar.QUOTE_DOUBLE || node.type === Scalar.QUOTE_SINGLE;
  const end = node.range[1] - (quoted ? 1 : 0);
  const start = end - String(bytes).length;
  // The digits YAML reads must be the characters written, or replacing them would change something else.
  if (text.slice(start, end) !== String(bytes)) {
    throw new ConfigFileError(file, `${location} is written with escapes or over several lines; write it on one line`);
  }
  return { location, bytes, start, end };
}

/** The quota from the container's `env`, which etcd reads when no flag sets it. */
function variableSetting(
  text: string,
  lineOf: (offset: number) => number,
  container: YAMLMap.Parsed,
  file: string,
): QuotaSetting | undefined {
  const env = valueOf(container, "env");
  const entries = (isSeq(env) ? env.items : []).flatMap((entry) => {
    const name = isMap(entry) ? valueOf(entry, "name") : undefined;
    if (!isMap(entry) || !isScalar(name)) return [];
    const location = `container "${CONTAINER}" env ${String(name.value)} (line ${lineOf(name.range[0])})`;
    return [{ entry, name: String(name.value), location }];
  });
  const configFile = entries.filter((e) => e.name === CONFIG_FILE_VARIABLE).at(-1);
  const configPath = configFile && stringOf(valueOf(configFile.entry, "value"));
  if (configFile && configPath) throw shadowedByConfigFile(file, configPath, configFile.location);

  const quota = atMostOne(
    entries.filter((e) => e.name === QUOTA_VARIABLE),
    file,
  );
  if (!quota) return undefined;
  if (valueOf(quota.entry, "valueFrom") !== undefined) {
    throw new ConfigFileError(file, `${quota.location} takes its value from valueFrom, which this file does not show`);
  }
  const value = valueOf(quota.entry, "value");
  return scalarSetting(text, isScalar(value) ? value : undefined, stringOf(value), quota.location, file);
}

/** The start of the comment lines right above `offset` (a line start), which belong to the line there. */
function aboveComments(text: string, offset: number): number {
  let at = offset;
  while (at > 0 && /^[ \t]*#/.test(text.slice(lineStart(text, at - 1), at))) at = lineStart(text, at - 1);
  return at;
}

/**
 * Where a new flag goes: among the flags, in name order as kubeadm writes them, and in `args` when the flags are
 * there (with the image's entrypoint, or after a command). The adder refuses only when it is used.
 */
function flagAdder(
  text: string,
  command: YAMLSeq.Parsed | undefined,
  args: YAMLSeq.Parsed | undefined,
  file: string,
): Pick<ManifestQuota, "absent" | "addFlag"> {
  const inArgs = argumentsOf(args, "args").some((arg) => flagName(arg.text) !== undefined);
  const list = inArgs ? "args" : "command";
  const seq = inArgs ? args : command;
  const where = `container "${CONTAINER}" ${list}`;
  const addFlag = (flag: string): Edit => {
    if (seq === undefined) {
      throw new ConfigFileError(file, `container "${CONTAINER}" has neither command nor args to add ${flag} to`);
    }
    const notOnePerLine = new ConfigFileError(
      file,
      `${where} is not written one "- item" per line, so ${flag} cannot be added without reformatting it`,
    );
    if (seq.flow) throw notOnePerLine;
    const all = argumentsOf(seq, list);
    const items = inArgs ? all : all.slice(1);
    const next = items.find((arg) => (flagName(arg.text) ?? "") > QUOTA_FLAG);
    // A block list has at least one item, so there is always a neighbour to copy the "- " from.
    const neighbour = next ?? items[items.length - 1] ?? all[0];
    const itemStart = lineStart(text, neighbour.node.range[0]);
    const prefix = text.slice(itemStart, neighbour.node.range[0]);
    if (!/^[ \t]*-[ \t]+$/.test(prefix)) throw notOnePerLine;
    const at = next ? aboveComments(text, itemStart) : nextLineStart(text, neighbour.node.range[1]);
    return insertLine(text, at, prefix + flag);
  };
  return { absent: seq ? `${where} (line ${lineNumbering(text)(seq.range[0])})` : where, addFlag };
}

function manifestQuota(text: string, file: string): ManifestQuota {
  const container = etcdContainer(parseYaml(text, file).contents, file);
  const command = argumentList(container, "command", file);
  const args = argumentList(container, "args", file);
  const programName = stringOf(command?.items[0]) ?? "";
  if (command && !runsEtcd(programName)) {
    throw new ConfigFileError(
      file,
      `container "${CONTAINER}" command runs ${programName || "nothing"}, not etcd, so which arguments reach etcd ` +
        "cannot be told from the manifest",
    );
  }
  const argv = [...argumentsOf(command, "command").slice(1), ...argumentsOf(args, "args")];
  const texts = argv.map((arg) => arg.text);
  const lineOf = lineNumbering(text);
  const location = (arg: Argument): string =>
    `container "${CONTAINER}" ${arg.list} (line ${lineOf(arg.node.range[0])})`;

  const configFlag = findFlag(texts, CONFIG_FILE_FLAG).at(-1);
  if (configFlag?.value) throw shadowedByConfigFile(file, configFlag.value, location(argv[configFlag.index]));

  const flags = findFlag(texts, QUOTA_FLAG).map((use) => ({ ...use, location: location(argv[use.index]) }));
  const flag = atMostOne(flags, file);
  const variable = variableSetting(text, lineOf, container, file);
  const settings = oneOfFlagOrVariable(
    flag && scalarSetting(text, argv[flag.valueIndex]?.node, flag.value, flag.location, file),
    variable,
    file,
  );
  return { settings, ...flagAdder(text, command, args, file) };
}

/**
 * The quota in a kubeadm static Pod manifest (/etc/kubernetes/manifests/etcd.yaml): the `--quota-backend-bytes`
 * item of the `etcd` container's `command` (or `args`), or its `ETCD_QUOTA_BACKEND_BYTES` env entry (not both: etcd
 * will not start with both). `write` edits the one that is there; when neither is, it adds
 * `--quota-backend-bytes=N` in name order among the flags, as kubeadm writes them. Only the changed characters or the
 * added line differ, so comments and layout stay.
 *
 * Refused: YAML errors, a kind other than Pod, no single `etcd` container, a command that does not run etcd,
 * `--config-file` or `ETCD_CONFIG_FILE` (etcd would ignore the quota here), a quota set twice or from `valueFrom`,
 * and a value that is not an integer. `kubeadm upgrade` rewrites this file from ClusterConfiguration
 * `etcd.local.extraArgs`, the lasting place for the flag (kubernetes/kubeadm#2157).
 */
export const kubeadmManifest: ConfigEditor = {
  format: "kubeadm-manifest",

  read(text, file) {
    const { settings, absent } = manifestQuota(text, file);
    return quotaOf(settings, absent);
  },

  write(text, bytes, file) {
    checkWritableQuota(bytes, file);
    const { settings, addFlag } = manifestQuota(text, file);
    if (settings.length > 0) return rewriteSettings(text, settings, bytes);
    return applyEdits(text, [addFlag(`--${QUOTA_FLAG}=${bytes}`)]);
  },
};

export const kubeadmManifestFormat: FormatSpec<"kubeadm-manifest"> = {
  format: "kubeadm-manifest",
  editor: kubeadmManifest,
  looks: "a static Pod manifest",
  precedence: 20,
  shownBy: ({ mapping }) => mapping?.kind === "Pod",
  fileName: /(?:^|\/)manifests\/[^/]+\.ya?ml$/,
  nameDecides: ({ lines, yamlErrors }) => lines.length === 0 || yamlErrors,
  // The kubelet restarts the pod when the manifest changes.
  defaultRestartCommand: () => "",
  // The kubelet loads every file in the manifests folder but hidden ones: a backup there must be hidden.
  backupPath: (plain) => path.join(path.dirname(plain), `.${path.basename(plain)}`),
};
