/** The label a progress line starts with: the type, the resource's name when given, the cluster's ID when known. */
const LABEL = /^(EtcdQuota|EtcdCompaction)(?: [^ (:]+)?(?: \(cluster [0-9a-f]+\))?: /;

/** One resource type's progress lines among a host's output, each label cut to the type (`EtcdQuota: m2: ...`). */
export function progressLines(logs: readonly string[], type: "EtcdQuota" | "EtcdCompaction"): string[] {
  return logs.filter((line) => LABEL.exec(line)?.[1] === type).map(unlabelled);
}

/** Whether a line of a host's output is a progress line of either resource. */
export function isProgressLine(line: string): boolean {
  return LABEL.test(line);
}

/** A line with its label cut to the type, so tests that read the steps need not know the name or cluster. */
export function unlabelled(line: string): string {
  return line.replace(LABEL, "$1: ");
}
