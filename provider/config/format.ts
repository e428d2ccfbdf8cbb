import { InvalidInputError } from "../errors";
import { describe } from "../size";
import type { ConfigFormat } from "../types/quota";

export type { ConfigFormat } from "../types/quota";

/** Every format, in the order messages list them. */
export const CONFIG_FORMATS: readonly ConfigFormat[] = [
  "systemd-unit",
  "env-file",
  "etcd-config",
  "kubeadm-manifest",
  "k3s-config",
];

/** The quota one file sets. */
export interface QuotaInFile {
  /** The quota the file sets, in bytes as written (0 = etcd's 2 GiB default, negative = disabled); undefined when the file does not set it. */
  readonly bytes: number | undefined;
  /**
   * Where the value is, for messages: e.g. `ExecStart flag --quota-backend-bytes (line 7)`,
   * `Environment=ETCD_QUOTA_BACKEND_BYTES (line 5)`, `key quota-backend-bytes (line 22)`, `container "etcd" command (line 14)`.
   * When the file does not set the quota, where `write` would add it.
   */
  readonly location: string;
}

/** Reads and edits the quota in one format. Pure: text in, text out, no I/O. */
export interface ConfigEditor {
  readonly format: ConfigFormat;
  /** Reads the quota; throws ConfigFileError when the file cannot be understood or the quota there would be shadowed. */
  read(text: string, file: string): QuotaInFile;
  /**
   * Returns the text with the quota set to `bytes` and nothing else changed (comments, order, whitespace, other
   * flags). Adds the setting when absent. Refuses what `read` refuses, and bytes that are not a safe integer.
   */
  write(text: string, bytes: number, file: string): string;
}

/** Validates a format name given by a user; `field` names the input in the message. */
export function parseFormat(value: unknown, field: string): ConfigFormat {
  const format = CONFIG_FORMATS.find((f) => f === value);
  if (format === undefined) {
    throw new InvalidInputError(
      field,
      `expected one of ${CONFIG_FORMATS.map((f) => `"${f}"`).join(", ")}, got ${describe(value)}`,
    );
  }
  return format;
}
