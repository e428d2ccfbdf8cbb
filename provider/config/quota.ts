import { ConfigFileError } from "../errors";
import type { QuotaInFile } from "./format";
import { applyEdits } from "./text";

/** etcd's flag for the quota, without dashes. */
export const QUOTA_FLAG = "quota-backend-bytes";
/** The variable etcd maps onto the flag (pkg/flags: `ETCD_` + the flag name in upper case, `-` as `_`). */
export const QUOTA_VARIABLE = "ETCD_QUOTA_BACKEND_BYTES";
/** With this flag set, etcd reads the named YAML file and ignores every other flag and ETCD_* variable. */
export const CONFIG_FILE_FLAG = "config-file";
/** Same as the flag; etcd reads it even though it ignores the other variables once a config file is in use. */
export const CONFIG_FILE_VARIABLE = "ETCD_CONFIG_FILE";

/** A place in a file that sets the quota, already checked. */
export interface QuotaSetting {
  /** For messages, e.g. `ExecStart flag --quota-backend-bytes (line 7)`. */
  readonly location: string;
  readonly bytes: number;
  /** Where the value's characters are in the file; `write` replaces exactly these. */
  readonly start: number;
  readonly end: number;
}

// Decimal only, and no leading zero: Go's ParseInt(s, 0, 64) behind the flag and YAML 1.1 behind the config file
// both read "010" as octal 8, and "0x10", "1_000" or "8e9" would be read differently by etcd and by this code.
const DECIMAL_INTEGER = /^(?:0|-?[1-9][0-9]*)$/;

/** The refusal for a setting with nothing after it, such as a flag given last or an empty YAML value. */
export function noValue(file: string, location: string): ConfigFileError {
  return new ConfigFileError(file, `${location} has no value`);
}

/** Parses a quota as written in a file. */
export function parseQuota(value: string, file: string, location: string): number {
  if (value === "") throw noValue(file, location);
  if (!DECIMAL_INTEGER.test(value)) {
    throw new ConfigFileError(
      file,
      `${location} is "${value}", which is not a whole number of bytes in plain decimal digits; ` +
        `etcd reads an integer with no unit here (e.g. 8589934592 for 8 GiB)`,
    );
  }
  const bytes = Number(value);
  if (!Number.isSafeInteger(bytes)) {
    throw new ConfigFileError(file, `${location} is ${value}, too large to handle exactly`);
  }
  return bytes;
}

/** Refuses to write a quota that could not be written exactly as an integer. */
export function checkWritableQuota(bytes: number, file: string): void {
  if (!Number.isSafeInteger(bytes)) {
    throw new ConfigFileError(
      file,
      `cannot write a quota of ${bytes}: it must be a whole number of bytes between ` +
        `${Number.MIN_SAFE_INTEGER} and ${Number.MAX_SAFE_INTEGER}`,
    );
  }
}

/** Places a message lists, the first few only: a hostile file can hold tens of thousands, and the message reaches logs. */
export function listSome(places: readonly string[]): string {
  const SHOWN = 3;
  if (places.length <= SHOWN) return places.join(" and ");
  return `${places.slice(0, SHOWN).join(", ")} and ${places.length - SHOWN} more`;
}

/** Refuses a second copy of a setting: whichever one etcd takes, the file would mislead whoever reads it next. */
export function atMostOne<T extends { readonly location: string }>(
  settings: readonly T[],
  file: string,
): T | undefined {
  if (settings.length > 1) {
    throw new ConfigFileError(
      file,
      `the quota is set ${settings.length} times: ${listSome(settings.map((s) => s.location))}; keep one`,
    );
  }
  return settings[0];
}

/**
 * Refuses the quota given both as the flag and as its ETCD_* variable: etcd (3.4 to 3.5.30, seen here) then exits at
 * start with "conflicting environment variable ... is shadowed by corresponding command-line flag".
 */
export function oneOfFlagOrVariable(
  flag: QuotaSetting | undefined,
  variable: QuotaSetting | undefined,
  file: string,
): QuotaSetting[] {
  if (flag && variable) {
    throw new ConfigFileError(
      file,
      `the quota is set both as a flag (${flag.location}) and as ${QUOTA_VARIABLE} (${variable.location}); ` +
        "etcd refuses to start with both (conflicting environment variable), so keep one",
    );
  }
  return [flag, variable].filter((s): s is QuotaSetting => s !== undefined);
}

/**
 * What a file says, given every setting it has from the one etcd obeys to the ones it shadows (a flag wins over an
 * ETCD_* variable). `absent` says where `write` would add the setting when there is none.
 */
export function quotaOf(settings: readonly QuotaSetting[], absent: string): QuotaInFile {
  const effective = settings[0];
  return effective ? { bytes: effective.bytes, location: effective.location } : { bytes: undefined, location: absent };
}

/** Writes `bytes` into every setting, the shadowed ones too, so that the file does not contradict itself. */
export function rewriteSettings(text: string, settings: readonly QuotaSetting[], bytes: number): string {
  return applyEdits(
    text,
    settings.map(({ start, end }) => ({ start, end, text: String(bytes) })),
  );
}

/** The refusal for a file whose quota etcd would not read, because a config file takes over. */
export function shadowedByConfigFile(file: string, configFile: string, where: string): ConfigFileError {
  return new ConfigFileError(
    file,
    `${where} makes etcd read its settings from ${configFile} and ignore every other flag and ETCD_* variable, ` +
      `so the quota really comes from that file: point configFile at ${configFile} with format "etcd-config"`,
  );
}
