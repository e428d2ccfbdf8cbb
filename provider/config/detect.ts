import { type Document, isMap, isScalar, parseDocument } from "yaml";
import { ConfigFileError } from "../errors";
import type { FileContent } from "./format";
import { CONFIG_FORMATS, type ConfigFormat, looksOf, RECOGNITION_ORDER } from "./formats";
import { stringOf, valueOf } from "./yaml-source";

const ASSIGNMENT = /^(?:export[ \t]+)?([A-Za-z_][A-Za-z0-9_]*)[ \t]*=/;

/** The views of `text` the recognisers use, each computed when first asked for (YAML is parsed at most once). */
function contentOf(text: string): FileContent {
  const lines = text
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "" && !/^[#;]/.test(line));
  let yaml: Document.Parsed | undefined;
  const parsed = () => (yaml ??= parseDocument(text));
  return {
    text,
    lines,
    get yamlErrors() {
      return parsed().errors.length > 0;
    },
    get mapping() {
      const document = parsed();
      if (document.errors.length > 0 || !isMap(document.contents)) return undefined;
      return {
        kind: stringOf(valueOf(document.contents, "kind")),
        keys: document.contents.items.map((pair) => (isScalar(pair.key) ? String(pair.key.value) : "")),
      };
    },
    get onlyAssignments() {
      return lines.every((line) => ASSIGNMENT.test(line));
    },
  };
}

function formatFromContent(content: FileContent): ConfigFormat | undefined {
  return RECOGNITION_ORDER.find((spec) => spec.shownBy(content))?.format;
}

/**
 * The format the content alone shows (never the name), or undefined when it shows none, e.g. an empty file. Used to
 * refuse a `format` given by the user that the file contradicts: each editor would otherwise add its setting to a
 * file of another kind, where etcd never sees it.
 */
export function formatOfContent(text: string): ConfigFormat | undefined {
  return formatFromContent(contentOf(text));
}

/**
 * Tells the format of a config file, by content first and by name second: `[Service]`/`ExecStart=` is a systemd
 * unit, YAML with `kind: Pod` a kubeadm manifest, a YAML mapping with etcd's keys an etcd config file, `NAME=value`
 * lines with `ETCD_` names an env file, k3s's own settings a k3s or RKE2 config.yaml. The name decides only for a
 * file with nothing in it yet (or, for an env file name, only assignments; for k3s's and RKE2's config.yaml, its
 * place; for a YAML name, a file that does not parse), where guessing wrong cannot edit the wrong kind of file.
 */
export function detectFormat(file: string, text: string): ConfigFormat {
  const content = contentOf(text);
  const byContent = formatFromContent(content);
  if (byContent) return byContent;
  const byName = RECOGNITION_ORDER.find((spec) => spec.fileName.test(file));
  if (byName?.nameDecides(content)) return byName.format;
  const choices = CONFIG_FORMATS.map((format) => `"${format}" (${looksOf(format)})`).join(", ");
  throw new ConfigFileError(
    file,
    `cannot tell what kind of etcd configuration this is; set format to one of ${choices}`,
  );
}
