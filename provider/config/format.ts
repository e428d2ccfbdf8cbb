import type { ConfigFormat } from "./formats";

export type { ConfigFormat } from "./formats";

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

/** A file's content as the formats' recognisers look at it, each view computed once. */
export interface FileContent {
  readonly text: string;
  /** The lines that say something: trimmed, without blank lines and comments. */
  readonly lines: readonly string[];
  /** Whether the text has YAML errors. */
  readonly yamlErrors: boolean;
  /** The top-level YAML mapping without errors (its `kind`, its keys), or undefined for anything else. */
  readonly mapping: { readonly kind: string | undefined; readonly keys: readonly string[] } | undefined;
  /** Whether every line is a shell-style assignment (`NAME=value`, `export NAME=value`). */
  readonly onlyAssignments: boolean;
}

/** What a check before a change needs of the member's host: run a shell command there. */
export interface CommandHost {
  readonly label: string;
  run(
    command: string,
    options: { readonly timeoutMs: number },
  ): Promise<{ readonly stdout: string; readonly stderr: string; readonly code: number }>;
}

/**
 * Everything the provider knows about one kind of config file, in that format's own file; the registry
 * (formats.ts) lists the specs.
 */
export interface FormatSpec<F extends string = string> {
  readonly format: F;
  readonly editor: ConfigEditor;
  /** What the format looks like, for the message that asks the user to choose. */
  readonly looks: string;
  /**
   * Where the format stands among the others when a file is recognised, by content and by name: lower is tried
   * first. A format whose files are a special case of another's (a manifest is a .yaml file, a k3s config.yaml
   * shares keys with etcd's) comes before it.
   */
  readonly precedence: number;
  /** Whether the content alone shows this format. */
  shownBy(content: FileContent): boolean;
  /** File names that tell this format when the content does not. */
  readonly fileName: RegExp;
  /** Whether a file with such a name, whose content shows no format, is taken as this format. */
  nameDecides(content: FileContent): boolean;
  /** The restart the format needs when the user gives none; "" for none. */
  defaultRestartCommand(configFile: string): string;
  /** The backup's path, from the plain one the hosts make (`<file>.bak-<time>`); absent: the plain one. */
  backupPath?(plain: string): string;
  /**
   * Checks before a change that need the member's host, beyond reading the file: throws ConfigFileError naming
   * what to fix.
   */
  checkBeforeChange?(host: CommandHost, configFile: string): Promise<void>;
}
