import { isMap, isScalar } from "yaml";
import { ConfigFileError } from "../errors";
import type { ConfigEditor, FormatSpec } from "./format";
import {
  QUOTA_FLAG,
  type QuotaSetting,
  checkWritableQuota,
  noValue,
  parseQuota,
  quotaOf,
  rewriteSettings,
} from "./quota";
import { type Edit, applyEdits, insertLine, lineNumbering, lineStart, nextLineStart } from "./text";
import { parseYaml, plainMappingWith } from "./yaml-source";

/** The quota setting of a config file, if any, and where a new key would go. */
interface ConfigQuota {
  readonly setting: QuotaSetting | undefined;
  /** Inserts a line of the top-level mapping after its last key, indented like the others; refuses a flow mapping. */
  readonly addLine: (line: string) => Edit;
}

/**
 * Keys of etcd's config file (etcd.conf.yml.sample) that any real one sets at least one of. A mapping with none of
 * them is some other program's YAML, and a quota added to it would change nothing but that file.
 */
const ETCD_CONFIG_KEYS: ReadonlySet<string> = new Set([
  "name",
  "data-dir",
  "wal-dir",
  "listen-client-urls",
  "listen-peer-urls",
  "listen-metrics-urls",
  "advertise-client-urls",
  "initial-advertise-peer-urls",
  "initial-cluster",
  "initial-cluster-state",
  "initial-cluster-token",
  "client-transport-security",
  "peer-transport-security",
  "snapshot-count",
  "heartbeat-interval",
  "election-timeout",
  "auto-compaction-mode",
  "auto-compaction-retention",
  QUOTA_FLAG,
]);

function configQuota(text: string, file: string): ConfigQuota {
  const root = parseYaml(text, file).contents;
  if (root !== null && !isMap(root)) {
    throw new ConfigFileError(file, "is not an etcd config file: its top level is not a mapping of settings");
  }
  if (root === null || !root.items.some((pair) => isScalar(pair.key) && ETCD_CONFIG_KEYS.has(String(pair.key.value)))) {
    throw new ConfigFileError(
      file,
      `has none of etcd's settings (${[...ETCD_CONFIG_KEYS].slice(0, 4).join(", ")}, ...), so it is not etcd's config file; the quota is not added to it`,
    );
  }
  const indent = " ".repeat(root.range[0] - lineStart(text, root.range[0]));
  const last = root.items[root.items.length - 1];
  const addLine = (line: string): Edit => {
    if (root.flow) {
      throw new ConfigFileError(
        file,
        "its settings are written as a flow mapping ({...}), so a key cannot be added without rewriting the whole " +
          "file; write them one per line",
      );
    }
    return insertLine(text, nextLineStart(text, (last.value ?? last.key).range[1]), indent + line);
  };

  const pair = root.items.find((item) => isScalar(item.key) && item.key.value === QUOTA_FLAG);
  if (!pair) return { setting: undefined, addLine };
  const location = `key ${QUOTA_FLAG} (line ${lineNumbering(text)(pair.key.range[0])})`;
  // etcd decodes the file through JSON into an int64, so only a plain YAML integer works: not "123", 8e9 or 8GiB.
  const node = pair.value;
  if (node === null) throw noValue(file, location);
  const bytes = parseQuota(text.slice(node.range[0], node.range[1]), file, location);
  return { setting: { location, bytes, start: node.range[0], end: node.range[1] }, addLine };
}

/**
 * The quota in etcd's own YAML config file (`etcd --config-file`, as etcd.conf.yml.sample): the top-level key
 * `quota-backend-bytes`. Edits go to the value's characters only, so comments, key order and layout stay as they
 * are; when absent, the key is added after the last top-level key.
 *
 * Refused: YAML errors (with their line) and YAML etcd's parser refuses, a file with none of etcd's settings, a top
 * level that is not a mapping or is a `{...}` flow mapping, and a value that is not a plain integer.
 */
export const etcdConfig: ConfigEditor = {
  format: "etcd-config",

  read(text, file) {
    const { setting } = configQuota(text, file);
    return quotaOf(setting ? [setting] : [], "a new top-level key after the last one");
  },

  write(text, bytes, file) {
    checkWritableQuota(bytes, file);
    const { setting, addLine } = configQuota(text, file);
    if (setting) return rewriteSettings(text, [setting], bytes);
    return applyEdits(text, [addLine(`${QUOTA_FLAG}: ${bytes}`)]);
  },
};

export const etcdConfigFormat: FormatSpec<"etcd-config"> = {
  format: "etcd-config",
  editor: etcdConfig,
  looks: "the YAML file of etcd --config-file",
  precedence: 40,
  shownBy: (content) => plainMappingWith(content, ETCD_CONFIG_KEYS),
  fileName: /\.ya?ml$/,
  // A .yml/.yaml file that does not parse: its editor reports the YAML error and its line, which says more than
  // "cannot tell what kind" (and it edits nothing, since it refuses to read the file).
  nameDecides: ({ lines, yamlErrors }) => lines.length === 0 || yamlErrors,
  defaultRestartCommand: () => "systemctl restart etcd",
};
