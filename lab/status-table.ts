import type { ClusterObservation, ObservedMember } from "../provider/types/observation";
import { formatSize } from "../provider/values/size";

/** The columns of `etcdctl endpoint status -w table`, then the space columns this project is about. */
const HEADER = [
  "ENDPOINT",
  "ID",
  "VERSION",
  "DB SIZE",
  "IS LEADER",
  "RAFT TERM",
  "RAFT INDEX",
  "QUOTA",
  "USAGE",
  "FREE",
  "ALARMS",
] as const;

/**
 * One look at a cluster as a box-drawn table, laid out like `etcdctl endpoint status -w table` (header centred,
 * cells right-aligned), with four more columns: QUOTA (`etcd_server_quota_backend_bytes`), USAGE (DB size over the
 * quota), FREE (DB size minus the bytes in use: what a defrag gives back) and ALARMS (the alarms raised on that
 * member). Endpoints that did not answer, and alarms of members not in the table, are listed under it. Pure: the
 * same observation, the same text.
 */
export function statusTable(observation: ClusterObservation): string {
  const rows = observation.members.map((member) => memberRow(member, observation));
  const widths = HEADER.map((title, i) => Math.max(title.length, ...rows.map((row) => row[i].length)));
  const rule = `+${widths.map((width) => "-".repeat(width + 2)).join("+")}+`;
  const line = (cells: readonly string[], align: (cell: string, width: number) => string) =>
    `| ${cells.map((cell, i) => align(cell, widths[i])).join(" | ")} |`;
  const lines = [
    rule,
    line(HEADER, centre),
    rule,
    ...rows.map((row) => line(row, (cell, w) => cell.padStart(w))),
    rule,
  ];
  for (const { endpoint, reason } of observation.unreachable) lines.push(`${endpoint} did not answer: ${reason}`);
  // An alarm stays raised while its member is down; the table must not hide it.
  const shown = new Set(observation.members.map((member) => member.id));
  for (const alarm of observation.alarms.filter((a) => !shown.has(a.memberId))) {
    const name = observation.memberList.find((member) => member.id === alarm.memberId)?.name;
    lines.push(`${alarm.type} is raised on ${name ? `${name} (${alarm.memberId})` : alarm.memberId}, not in the table`);
  }
  return lines.join("\n");
}

function memberRow(member: ObservedMember, observation: ClusterObservation): string[] {
  const quota = member.metrics.quotaBytes;
  const alarms = observation.alarms.filter((alarm) => alarm.memberId === member.id).map((alarm) => alarm.type);
  return [
    member.endpoint,
    member.id,
    member.version,
    formatSize(member.dbSize),
    String(member.isLeader),
    String(member.raftTerm),
    String(member.raftIndex),
    quota === undefined ? "-" : formatSize(quota),
    quota === undefined || quota <= 0 ? "-" : `${((member.dbSize / quota) * 100).toFixed(1)}%`,
    formatSize(Math.max(0, member.dbSize - member.dbSizeInUse)),
    [...new Set(alarms)].join(", "),
  ];
}

/** As etcdctl's table writer centres a header: the odd space goes to the right. */
function centre(text: string, width: number): string {
  const gap = width - text.length;
  const left = Math.floor(gap / 2);
  return " ".repeat(left) + text + " ".repeat(gap - left);
}
