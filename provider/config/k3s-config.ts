import { isMap, isScalar, isSeq, type ParsedNode, type Scalar } from "yaml";
import { ConfigFileError, HostError } from "../errors";
import { shellQuote } from "../hosts/shell";
import type { CommandHost, ConfigEditor, FormatSpec } from "./format";
import {
  QUOTA_FLAG,
  type QuotaSetting,
  atMostOne,
  checkWritableQuota,
  parseQuota,
  quotaOf,
  rewriteSettings,
} from "./quota";
import { type Edit, applyEdits, insertLine, lineNumbering, lineStart, nextLineStart } from "./text";
import { parseYaml, plainMappingWith } from "./yaml-source";

/** The server setting that k3s and RKE2 hand to their embedded etcd, one `key=value` per entry. */
const ETCD_ARG = "etcd-arg";

/**
 * Settings only k3s and RKE2 use: a YAML mapping with one of them is their config.yaml, whatever its name. Names
 * other programs use too (`server`, `token`, `disable`) are left out, so an unrelated YAML file is not taken for it.
 */
const K3S_ONLY_KEYS: ReadonlySet<string> = new Set([
  ETCD_ARG,
  `${ETCD_ARG}+`,
  "cluster-init",
  "write-kubeconfig-mode",
  "tls-san",
  "kube-apiserver-arg",
  "kube-controller-manager-arg",
  "kube-scheduler-arg",
  "kubelet-arg",
  "etcd-expose-metrics",
  "etcd-snapshot-schedule-cron",
  "etcd-snapshot-retention",
  "flannel-backend",
  "cluster-cidr",
  "service-cidr",
]);

/**
 * Settings a k3s or RKE2 server's config.yaml may hold alone: a server joining a cluster often sets only `server`
 * and `token`. A file given as (or placed as) config.yaml with none of these is not that file.
 */
const K3S_CONFIG_KEYS: ReadonlySet<string> = new Set([...K3S_ONLY_KEYS, "server", "token", "token-file", "node-name"]);

/** The quota setting, if any, and how to add one. */
interface K3sQuota {
  readonly setting: QuotaSetting | undefined;
  readonly add: (bytes: number) => Edit;
}

/** One `etcd-arg` entry: a scalar whose value is `key=value`, with the key's leading dashes dropped as k3s does. */
function entryOf(
  node: ParsedNode | null,
  text: string,
  lineOf: (offset: number) => number,
  file: string,
): { key: string; setting?: QuotaSetting } {
  if (!isScalar(node) || typeof node.value !== "string") {
    throw new ConfigFileError(
      file,
      `${ETCD_ARG} holds an entry that is not a string (line ${lineOf(node?.range[0] ?? 0)})`,
    );
  }
  const value = node.value;
  const equals = value.indexOf("=");
  const key = (equals < 0 ? value : value.slice(0, equals)).replace(/^-+/, "");
  if (key !== QUOTA_FLAG) return { key };
  const location = `${ETCD_ARG} ${QUOTA_FLAG} (line ${lineOf(node.range[0])})`;
  return { key, setting: settingIn(node, text, file, location, equals) };
}

/** Where the digits after `=` are in the file, for a scalar written without escapes or folding. */
function settingIn(node: Scalar.Parsed, text: string, file: string, location: string, equals: number): QuotaSetting {
  const quote = node.type === "QUOTE_DOUBLE" || node.type === "QUOTE_SINGLE" ? 1 : 0;
  const source = text.slice(node.range[0] + quote, node.range[1] - quote);
  if ((node.type !== "PLAIN" && quote === 0) || source !== node.value) {
    throw new ConfigFileError(
      file,
      `${location} is written with escapes or as a block; write it as plain text, "${QUOTA_FLAG}=<bytes>"`,
    );
  }
  const start = node.range[0] + quote + equals + 1;
  const bytes = parseQuota(equals < 0 ? "" : node.value.slice(equals + 1), file, location);
  return { location, bytes, start, end: node.range[0] + quote + source.length };
}

function k3sQuota(text: string, file: string): K3sQuota {
  const root = parseYaml(text, file).contents;
  if (root !== null && !isMap(root)) {
    throw new ConfigFileError(file, "is not a k3s or RKE2 config file: its top level is not a mapping of settings");
  }
  const keys = (root?.items ?? []).map((pair) => (isScalar(pair.key) ? String(pair.key.value) : ""));
  if (root === null || !keys.some((key) => K3S_CONFIG_KEYS.has(key))) {
    throw new ConfigFileError(
      file,
      `has none of k3s's or RKE2's server settings (${[...K3S_CONFIG_KEYS].slice(0, 4).join(", ")}, ...), so it is not their config.yaml; the quota is not added to it`,
    );
  }
  if (keys.includes(`${ETCD_ARG}+`)) {
    throw new ConfigFileError(
      file,
      `${ETCD_ARG}+ appends to the ${ETCD_ARG} of files read before this one: the quota's place cannot be told from this file alone; write ${ETCD_ARG} without "+"`,
    );
  }
  const pair = root.items.find((item) => isScalar(item.key) && item.key.value === ETCD_ARG);
  const last = root.items[root.items.length - 1];
  const indent = " ".repeat(root.range[0] - lineStart(text, root.range[0]));
  if (!pair) {
    return {
      setting: undefined,
      add: (bytes) => {
        if (root.flow) {
          throw new ConfigFileError(
            file,
            "its settings are written as a flow mapping ({...}); write them one per line",
          );
        }
        return insertLine(
          text,
          nextLineStart(text, (last.value ?? last.key).range[1]),
          `${indent}${ETCD_ARG}:\n${indent}  - ${QUOTA_FLAG}=${bytes}`,
        );
      },
    };
  }
  const node = pair.value;
  if (isScalar(node)) {
    const { setting } = entryOf(node, text, lineNumbering(text), file);
    return {
      setting,
      add: () => {
        throw new ConfigFileError(
          file,
          `${ETCD_ARG} is a single value; write it as a list so ${QUOTA_FLAG} can be added`,
        );
      },
    };
  }
  if (!isSeq(node)) throw new ConfigFileError(file, `${ETCD_ARG} is neither a list nor a string`);
  const lineOf = lineNumbering(text);
  const settings = node.items.flatMap((item) => entryOf(item as ParsedNode, text, lineOf, file).setting ?? []);
  const setting = atMostOne(settings, file);
  return {
    setting,
    add: (bytes) => {
      const entry = `${QUOTA_FLAG}=${bytes}`;
      if (node.flow) {
        const close = node.range[1] - 1;
        return { start: close, end: close, text: node.items.length > 0 ? `, ${entry}` : entry };
      }
      const lastItem = node.items[node.items.length - 1] as ParsedNode;
      const itemIndent = " ".repeat(
        Math.max(0, text.lastIndexOf("-", lastItem.range[0] - 1) - lineStart(text, lastItem.range[0])),
      );
      return insertLine(text, nextLineStart(text, lastItem.range[1]), `${itemIndent}- ${entry}`);
    },
  };
}

/**
 * The quota in a k3s or RKE2 server's config.yaml (`/etc/rancher/k3s/config.yaml`, `/etc/rancher/rke2/config.yaml`):
 * the `etcd-arg` entry `quota-backend-bytes=<bytes>`, which k3s writes into its embedded etcd's config (keys with
 * their dashes dropped, a later entry overriding an earlier one). Edits go to the digits only; when absent, the entry
 * is added at the end of the `etcd-arg` list, or an `etcd-arg` list is added after the last setting.
 *
 * Refused: YAML errors, a file with none of their server settings, `etcd-arg+` (it appends to drop-ins read
 * earlier), the quota given twice, an entry that is not a string, a value that is not plain decimal digits.
 */
export const k3sConfig: ConfigEditor = {
  format: "k3s-config",

  read(text, file) {
    const { setting } = k3sQuota(text, file);
    return quotaOf(setting ? [setting] : [], `a new ${ETCD_ARG} entry`);
  },

  write(text, bytes, file) {
    checkWritableQuota(bytes, file);
    const { setting, add } = k3sQuota(text, file);
    if (setting) return rewriteSettings(text, [setting], bytes);
    return applyEdits(text, [add(bytes)]);
  },
};

/**
 * The drop-ins k3s and RKE2 merge after config.yaml (`config.yaml.d/*.yaml`, in name order) that name `etcd-arg`: a
 * later list replaces the earlier one, or with `etcd-arg+` extends it.
 */
async function dropInsSettingEtcdArgs(host: CommandHost, configFile: string): Promise<string[]> {
  const dir = shellQuote(`${configFile}.d`);
  const script =
    `for f in ${dir}/*.yaml ${dir}/*.yml; do ` +
    `[ -f "$f" ] && grep -qE '^[[:space:]]*["]?etcd-arg[+]?["]?[[:space:]]*:' "$f" && printf '%s\n' "$f"; ` +
    "done; exit 0";
  const { stdout, code, stderr } = await host.run(script, { timeoutMs: 15_000 });
  if (code !== 0)
    throw new HostError(`${host.label}: could not list ${configFile}.d: ${stderr.trim() || `exit ${code}`}`);
  return stdout.split("\n").filter((line) => line !== "");
}

export const k3sConfigFormat: FormatSpec<"k3s-config"> = {
  format: "k3s-config",
  editor: k3sConfig,
  looks: "the config.yaml of a k3s or RKE2 server",
  precedence: 30,
  // k3s and RKE2 share a few names with etcd (data-dir); their own settings tell them apart.
  shownBy: (content) => plainMappingWith(content, K3S_ONLY_KEYS),
  fileName: /(?:^|\/)rancher\/(?:k3s|rke2)\/config\.ya?ml$/,
  // /etc/rancher/{k3s,rke2}/config.yaml is that file wherever it is found, even when it holds only settings other
  // programs also use (a server joining a cluster: `server` and `token`); its editor still wants one of them.
  nameDecides: () => true,
  // k3s and RKE2 restart their server service, which restarts the embedded etcd with the rest of the control plane.
  defaultRestartCommand: (configFile) =>
    /(?:^|\/)rke2\//.test(configFile) ? "systemctl restart rke2-server" : "systemctl restart k3s",
  async checkBeforeChange(host, configFile) {
    const dropIns = await dropInsSettingEtcdArgs(host, configFile);
    if (dropIns.length > 0) {
      throw new ConfigFileError(
        configFile,
        `${dropIns.join(", ")} also set${dropIns.length === 1 ? "s" : ""} etcd-arg, and k3s and RKE2 read ` +
          `${configFile}.d after this file, so the quota there would win or be lost; move the etcd-arg ` +
          "entries into one file and point configFile at it",
      );
    }
  },
};
