import { type Document, type ParsedNode, type YAMLMap, isScalar, parseDocument } from "yaml";
import { ConfigFileError } from "../errors";
import type { FileContent } from "./format";

/** yaml's default bound on alias expansion; a config file of etcd or a static Pod manifest uses no alias at all. */
const MAX_ALIAS_COUNT = 100;

/** Parses one YAML document keeping the position of every node, so that edits can go to the original text. */
export function parseYaml(text: string, file: string): Document.Parsed {
  const document = parseDocument(text);
  const [error] = document.errors;
  if (error) {
    // The first line of the message names the problem and where it is; the rest is a picture of the line.
    throw new ConfigFileError(file, `not valid YAML: ${error.message.split("\n")[0].replace(/:$/, "")}`);
  }
  try {
    // Expanding the aliases as etcd's parser does, with a bound: a "billion laughs" file grows without end, and etcd
    // refuses to start on it ("document contains excessive aliasing").
    document.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (error) {
    throw new ConfigFileError(
      file,
      `its YAML aliases expand too much (${error instanceof Error ? error.message : String(error)}); etcd refuses to start on such a file ("document contains excessive aliasing")`,
    );
  }
  return document;
}

/** The node under `key` in a mapping: undefined when the key is absent, null when it has no node at all. */
export function valueOf(map: YAMLMap.Parsed, key: string): ParsedNode | null | undefined {
  return map.items.find((pair) => isScalar(pair.key) && pair.key.value === key)?.value;
}

/** The text of a scalar node as YAML reads it, or undefined for anything else. */
export function stringOf(node: ParsedNode | null | undefined): string | undefined {
  return isScalar(node) && node.value !== null ? String(node.value) : undefined;
}

/** Whether the content is a YAML mapping without `kind` that sets one of `keys` at its top. */
export function plainMappingWith(content: FileContent, keys: ReadonlySet<string>): boolean {
  const mapping = content.mapping;
  return mapping !== undefined && mapping.kind === undefined && mapping.keys.some((key) => keys.has(key));
}
