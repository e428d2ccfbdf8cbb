/**
 * The server flags etcd 3.7 removed, each with what replaces it: the 23 `--experimental-*` ones 3.6 deprecated
 * (etcd-io/etcd#19959), replaced in 3.6 by a renamed flag or a feature gate, and v2 discovery's two. Taken from the
 * flag set of etcd 3.6.16 (server/embed/config.go) less that of 3.7.3; a 3.7 member given one of them as a flag
 * refuses to start ("flag provided but not defined").
 */
export const REMOVED_IN_3_7: ReadonlyMap<string, string> = new Map([
  ["experimental-bootstrap-defrag-threshold-megabytes", "--bootstrap-defrag-threshold-megabytes"],
  ["experimental-compact-hash-check-enabled", "--feature-gates=CompactHashCheck=true"],
  ["experimental-compact-hash-check-time", "--compact-hash-check-time"],
  ["experimental-compaction-batch-limit", "--compaction-batch-limit"],
  ["experimental-compaction-sleep-interval", "--compaction-sleep-interval"],
  ["experimental-corrupt-check-time", "--corrupt-check-time"],
  ["experimental-distributed-tracing-address", "--distributed-tracing-address"],
  ["experimental-distributed-tracing-instance-id", "--distributed-tracing-instance-id"],
  ["experimental-distributed-tracing-sampling-rate", "--distributed-tracing-sampling-rate"],
  ["experimental-distributed-tracing-service-name", "--distributed-tracing-service-name"],
  ["experimental-downgrade-check-time", "--downgrade-check-time"],
  ["experimental-enable-distributed-tracing", "--enable-distributed-tracing"],
  ["experimental-enable-lease-checkpoint", "--feature-gates=LeaseCheckpoint=true"],
  ["experimental-enable-lease-checkpoint-persist", "--feature-gates=LeaseCheckpointPersist=true"],
  ["experimental-initial-corrupt-check", "--feature-gates=InitialCorruptCheck=true"],
  ["experimental-memory-mlock", "--memory-mlock"],
  ["experimental-peer-skip-client-san-verification", "--peer-skip-client-san-verification"],
  ["experimental-snapshot-catchup-entries", "--snapshot-catchup-entries"],
  ["experimental-stop-grpc-service-on-defrag", "--feature-gates=StopGRPCServiceOnDefrag=true"],
  ["experimental-txn-mode-write-with-shared-buffer", "--feature-gates=TxnModeWriteWithSharedBuffer=true"],
  ["experimental-warning-apply-duration", "--warning-apply-duration"],
  ["experimental-warning-unary-request-duration", "--warning-unary-request-duration"],
  ["experimental-watch-progress-notify-interval", "--watch-progress-notify-interval"],
  // The config file's spelling of experimental-snapshot-catchup-entries (3.6 read both).
  ["experimental-snapshot-catch-up-entries", "--snapshot-catchup-entries"],
  ["discovery", "v3 discovery (--discovery-endpoints and --discovery-token)"],
  ["discovery-proxy", "remove it (v3 discovery has no proxy setting)"],
]);

/** One removed setting found in a file. */
export interface RemovedFlagUse {
  /** The flag's name without dashes, e.g. `experimental-initial-corrupt-check`. */
  readonly flag: string;
  /** 1-based line. */
  readonly line: number;
  /**
   * `argument`: etcd gets it on its command line (a unit's ExecStart, a manifest's command, a k3s etcd-arg) and a 3.7
   * member does not start; `setting`: an `ETCD_EXPERIMENTAL_*` variable or a config-file key, which 3.7 ignores, so
   * the member starts without it.
   */
  readonly as: "argument" | "setting";
}

// Longest first, so that a name is never taken for a shorter one it starts with.
const NAMES = [...REMOVED_IN_3_7.keys()].sort((a, b) => b.length - a.length).join("|");
// `--flag`, `-flag` (Go accepts one dash), or a k3s etcd-arg entry `flag=value`: what etcd gets as an argument.
const ARGUMENT = new RegExp(`(?:^|[\\s"'[,])(?:--?|(?=(?:${NAMES})=))(${NAMES})(?=[=\\s"',\\]]|$)`, "g");
// A YAML key of etcd's config file.
const KEY = new RegExp(`^\\s*(?:-\\s+)?["']?(${NAMES})["']?\\s*:`);
const VARIABLE = new RegExp(`(?<![A-Z0-9_])ETCD_(${NAMES.toUpperCase().replace(/-/g, "_")})(?![A-Z0-9_])`, "g");

/**
 * Every flag etcd 3.7 removed that `text` sets, in any of the forms the config formats use; comment lines (`#`) are
 * skipped. Pure text in, uses out: which formats use which form does not matter, only what etcd would get.
 */
export function removedFlagsIn(text: string): RemovedFlagUse[] {
  const uses: RemovedFlagUse[] = [];
  text.split("\n").forEach((content, i) => {
    if (/^\s*#/.test(content)) return;
    const line = i + 1;
    const found = (flag: string, as: RemovedFlagUse["as"]) => {
      if (!uses.some((u) => u.flag === flag && u.line === line)) {
        uses.push({ flag, line, as });
      }
    };
    const key = KEY.exec(content);
    if (key) found(key[1], "setting");
    for (const match of content.matchAll(ARGUMENT)) found(match[1], "argument");
    for (const match of content.matchAll(VARIABLE)) found(match[1].toLowerCase().replace(/_/g, "-"), "setting");
  });
  return uses;
}

/** Whether a member reporting `version` (`3.7.3`) runs a release without the removed flags: 3.7 and newer. */
export function lacksExperimentalFlags(version: string): boolean {
  const match = /^(\d+)\.(\d+)\./.exec(version);
  if (!match) return false;
  const [major, minor] = [Number(match[1]), Number(match[2])];
  return major > 3 || (major === 3 && minor >= 7);
}

/**
 * Why a member of etcd `version` must not be restarted from `file` with these uses, one sentence per use, naming the
 * flag, what a restart would do and what replaces it.
 */
export function removedFlagsProblem(file: string, version: string, uses: readonly RemovedFlagUse[]): string {
  const sentences = uses.map((use) => {
    const outcome =
      use.as === "argument"
        ? "the member would not start"
        : `etcd ${version} ignores it, so the member would restart without that setting`;
    const replacement = REMOVED_IN_3_7.get(use.flag)!;
    const instead = replacement.startsWith("remove") ? replacement : `use ${replacement} instead`;
    return `--${use.flag} (line ${use.line}) was removed in etcd 3.7; ${outcome}: ${instead}`;
  });
  return `${file} is for an older etcd than the ${version} this member runs: ${sentences.join("; ")}`;
}
