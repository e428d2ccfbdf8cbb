import type { ClusterObservation } from "../types/observation";
import { formatSize, parseSize } from "../values/size";
import { sameValue } from "../values/plain";
import { quotaInEffect } from "./quota";

/**
 * EtcdCompaction's `maintenance` when no `when` condition holds. `check` adds it to the inputs, so drift found by
 * `read` shows in a preview as `maintenance: "needed: NOSPACE alarm on m1" => "up-to-date"`.
 */
export const UP_TO_DATE = "up-to-date";

/** Bytes as the shortest exact text (`8GiB`), or the number when no unit says it exactly. */
function exactSize(bytes: number): string | number {
  const text = formatSize(bytes);
  try {
    return parseSize(text, "quota") === bytes ? text.replace(" ", "") : bytes;
  } catch {
    return bytes;
  }
}

/** What {@link liveQuota} reads of EtcdQuota's record (the outputs): the declared quota and each member's two values. */
export interface RecordedQuota {
  readonly quotaBytes: number;
  readonly members: readonly {
    readonly endpoint: string;
    readonly name: string | null;
    /** Absent in state written before it existed, which counts as read. */
    readonly fileRead?: boolean;
    readonly configuredBytes: number | null;
    readonly liveBytes: number | null;
  }[];
}

/**
 * The quota a refresh reports: the declared one while every member runs it and every file says it, the one other
 * value when all agree on it (a preview then shows `quota: "6GiB" => "8GiB"` after someone changed every member by
 * hand), and `mixed: ...` naming each member's values when they disagree or a file could not be read. A single
 * value would hide the others: after a change that stopped part way, the members already changed report the newly
 * declared quota, and the diff would find nothing to do while the rest still run the old one.
 */
export function liveQuota(declared: unknown, record: RecordedQuota): unknown {
  const members = record.members.map((m) => ({
    name: m.name ?? m.endpoint,
    // A file without the setting (or with 0) runs etcd's default, so it is drift only when the declared quota is not
    // 2 GiB; a file not read (its host unreachable) says nothing. State written before `fileRead` existed counts as
    // read.
    file: m.fileRead === false ? undefined : quotaInEffect(m.configuredBytes),
    live: m.liveBytes,
  }));
  const unread = members.some((m) => m.file === undefined);
  const values = new Set(
    members.flatMap((m) => [m.file, m.live].filter((v): v is number => v !== undefined && v !== null)),
  );
  if (!unread && values.size === 1) {
    const [only] = values;
    return only === record.quotaBytes ? declared : exactSize(only);
  }
  const shown = (bytes: number) => String(exactSize(bytes));
  const describe = (m: (typeof members)[number]): string => {
    if (m.file === undefined)
      return m.live === null
        ? `${m.name} unknown (file not read)`
        : `${m.name} runs ${shown(m.live)}, its file was not read`;
    return m.live === null || m.live === m.file
      ? `${m.name} ${shown(m.file)}`
      : `${m.name} runs ${shown(m.live)}, its file says ${shown(m.file)}`;
  };
  return `mixed: ${members.map(describe).join("; ")}`;
}

/** Whether two quota inputs mean the same bytes (`"8GiB"` and 8589934592); values that are not sizes by value. */
export function sameQuota(a: unknown, b: unknown): boolean {
  try {
    return parseSize(a, "quota") === parseSize(b, "quota");
  } catch {
    return sameValue(a, b);
  }
}

/** EtcdCompaction's `maintenance`: up to date, or needed with the reasons a `when` condition gave. */
export function maintenanceState(observation: ClusterObservation, reasons: readonly string[]): string {
  if (observation.members.length === 0) return "needed: no member answered";
  return reasons.length === 0 ? UP_TO_DATE : `needed: ${reasons.join("; ")}`;
}
