import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

/** Where the lab finds an etcd release. */
export interface EtcdBinary {
  /** Absolute path of the `etcd` server binary. */
  readonly etcd: string;
  /** Absolute path of `etcdctl` from the same release. */
  readonly etcdctl: string;
  /** The full version the binary reports, e.g. `3.4.23`. */
  readonly version: string;
}

/** The release the lab runs unless `$ETCD_VERSION` says otherwise: the newest 3.7, as lab/install-etcd.sh pins it. */
export const DEFAULT_ETCD_VERSION = "3.7.3";

/** The repository root: `lab/` sits directly under it. */
export const REPO_ROOT = path.resolve(__dirname, "..");

const SYSTEM_BIN = "/usr/bin";

const reported = new Map<string, string | undefined>();

/** The lab's build cache outside the repository, shared with lab/install-etcd.sh and lab/install-pulumi.sh. */
export const CACHE_ROOT =
  process.env.PULUMI_ETCD_QUOTA_CACHE ??
  path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), ".cache"), "pulumi-etcd-quota");

/** Where lab/install-etcd.sh puts the releases it builds from Go modules. */
const BUILT_ROOT = path.join(CACHE_ROOT, "etcd");

/**
 * Resolves the etcd binaries for `version`: `3.4` (or `3.4.x`) is the distribution's package in /usr/bin, 3.5.16
 * and 3.5.30 the copies that `lab/install-etcd.sh` unpacks into `<repo>/.cache/etcd/<version>/`, any other 3.5, 3.6
 * or 3.7 the one it builds into `~/.cache/pulumi-etcd-quota/etcd/<version>/`. Throws an Error that says how to install it when it is missing.
 */
export function etcdBinary(version: string = process.env.ETCD_VERSION ?? DEFAULT_ETCD_VERSION): EtcdBinary {
  const candidates = [
    SYSTEM_BIN,
    path.join(REPO_ROOT, ".cache", "etcd", version, "usr", "bin"),
    path.join(BUILT_ROOT, version, "usr", "bin"),
  ];
  for (const dir of candidates) {
    const etcd = path.join(dir, "etcd");
    const etcdctl = path.join(dir, "etcdctl");
    const actual = reportedVersion(etcd);
    if (actual !== undefined && matches(actual, version) && fs.existsSync(etcdctl)) {
      return { etcd, etcdctl, version: actual };
    }
  }
  const installArg = matches(version, "3.4") ? "3.4" : version;
  throw new Error(
    `etcd ${version} is not installed (looked in ${candidates.join(" and ")}); run \`bash lab/install-etcd.sh ${installArg}\``,
  );
}

/** `3.4.23` matches `3.4` and `3.4.23`, not `3.4.2`. */
function matches(actual: string, wanted: string): boolean {
  return actual === wanted || actual.startsWith(`${wanted}.`);
}

// Asking the binary (memoized) rather than trusting the folder keeps a 3.5 in /usr/bin from passing as 3.4.
function reportedVersion(binary: string): string | undefined {
  if (!reported.has(binary)) {
    reported.set(binary, fs.existsSync(binary) ? askVersion(binary) : undefined);
  }
  return reported.get(binary);
}

function askVersion(binary: string): string | undefined {
  try {
    const out = execFileSync(binary, ["--version"], { encoding: "utf8", timeout: 10_000 });
    return /^etcd Version: (\S+)/m.exec(out)?.[1];
  } catch {
    return undefined;
  }
}
