import { constants as osConstants } from "node:os";
import type { Duplex } from "node:stream";
import { performance } from "node:perf_hooks";
import type { Client, ClientChannel } from "ssh2";
import type * as Ssh2 from "ssh2";
import { formatDuration } from "../values/duration";
import { HostError, TimeoutError } from "../errors";
import { backupsToDelete, defaultBackupPath } from "../config/backups";
import type { Connection, ConnectionInput } from "../inputs/connection";
import { validateConnection } from "../inputs/connection";
import type { CommandResult, FileRead, Host, PruneResult, RunOptions, WriteOptions } from "./host";
import { abbreviate, checkTimeout, MAX_CONFIG_FILE_BYTES, unreadableReason } from "./host";
import type { KnownKeys, PublicKey } from "../inputs/known-hosts";
import { blobType, findKnownKeys, fingerprint, parsePublicKey, signatureAlgorithms } from "../inputs/known-hosts";
import { checkPath } from "../inputs/paths";
import { remoteCommand } from "./shell";

/** File reads and edits are small; a host that takes longer than this is stuck. */
const FILE_TIMEOUT_MS = 60_000;

/**
 * How long after the remote `timeout` should have fired we still wait for the host to say so, to cover network
 * latency. Only a host that stopped answering uses it up.
 */
const REPORT_GRACE_MS = 5_000;
/**
 * SSH keepalives: a host that answers none of three, 5 s apart, is gone (its link or the network between is down),
 * and every command in flight fails then, instead of at its own bound (a minute for a file).
 */
const KEEPALIVE_INTERVAL_MS = 5_000;
const KEEPALIVE_COUNT_MAX = 3;
/** How long closing waits for the server's goodbye before dropping the connection: a dead host never sends one. */
const CLOSE_WAIT_MS = 2_000;

/**
 * Shared by the file scripts. `replace DEST FROM [-]` writes a new file next to DEST with FROM's bytes (or stdin's,
 * given `-`), mode and owner, flushes it, and renames it over DEST.
 *
 * The folder may be writable by another account (an `/etc/etcd` owned by `etcd`, no sticky bit), which can swap any
 * name in it for a symlink at any moment, so nothing is written, chowned or chmodded by name: the temp file gets a
 * fresh random name, is created with O_EXCL under noclobber (`set -C`; an existing name, a symlink included, is
 * refused), 0600 under the umask, and is then only reached through its descriptor: fd 3 for the shell, and
 * `/proc/self/fd/3` for chown, chmod and sync, which the kernel resolves to the open file, never by name. Its owner is
 * set the way `cp -p` would, failing when the login user may not keep it. The rename is by name and can still be
 * subverted, so the script checks afterwards that DEST is the file it wrote, and fails naming the folder otherwise.
 */
const PRELUDE = `set -e
umask 077
temp=
trap 'if [ -n "$temp" ]; then rm -f -- "$temp"; fi' EXIT
flush() { sync -- "$@" 2>/dev/null || sync; }
replace() {
  exec 4< "$2"
  if [ ! -f /proc/self/fd/4 ]; then echo "$2: not a regular file" >&2; exit 1; fi
  owner=$(stat -L -c %u:%g /proc/self/fd/4)
  mode=$(stat -L -c %a /proc/self/fd/4)
  folder=$(dirname -- "$1")
  temp=$(mktemp -u "$folder/.$(basename -- "$1").XXXXXXXXXXXX")
  set -C
  exec 3> "$temp"
  set +C
  if [ "$3" = - ]; then cat >&3; else cat <&4 >&3; fi
  exec 4<&-
  chown -- "$owner" /proc/self/fd/3
  chmod -- "$mode" /proc/self/fd/3
  flush /proc/self/fd/3
  written=$(stat -L -c %d:%i /proc/self/fd/3)
  mv -f -- "$temp" "$1"
  temp=
  if [ "$(stat -c %d:%i -- "$1")" != "$written" ]; then
    echo "$1 is not the file just written: another account replaced the temp file in $folder; make $folder writable only by root and the file's owner" >&2
    exit 1
  fi
  exec 3>&-
  flush "$folder"
}
`;

/** `$1` path, `$2` backup path, stdin the new text. Resolving links first edits a symlinked file's target. */
const WRITE_SCRIPT = `${PRELUDE}target=$(readlink -f -- "$1") || target=
if [ ! -f "$target" ]; then echo "$1: no such file (only existing files are edited)" >&2; exit 1; fi
replace "$2" "$target"
replace "$target" "$target" -
`;

/** `$1` path, `$2` backup path. The file may have been deleted since the backup, so it need not exist. */
const RESTORE_SCRIPT = `${PRELUDE}if [ ! -f "$2" ]; then echo "backup $2: no such file" >&2; exit 1; fi
target=$(readlink -f -- "$1") || { echo "$1: its folder does not exist" >&2; exit 1; }
replace "$target" "$2"
`;

/**
 * `$1` folder. Prints the names of its regular files (symlinks are not, `find` not following them) that look like
 * backups, each as a path ending in NUL: a name may hold any byte but NUL and `/`, so no name can pass for two. The
 * slash after the folder lists a symlinked folder's content, as a local listing does.
 */
const LIST_BACKUPS_SCRIPT = `exec find "$1/" -mindepth 1 -maxdepth 1 -type f -name '*.bak-*' -print0
`;

/**
 * `$1` folder, then the names to delete. Each is looked at again just before `rm` (which never follows a link or
 * removes a folder anyway); one that is no longer a regular file, or that `rm` refuses, is printed as
 * `<its index among the names><TAB>reason` (an index, since a name may hold a tab) and the others still go. A name
 * already gone is not an error.
 */
const DELETE_BACKUPS_SCRIPT = `folder=$1
shift
i=0
for name in "$@"; do
  path="$folder/$name"
  if [ -L "$path" ] || { [ -e "$path" ] && [ ! -f "$path" ]; }; then
    printf '%s\\t%s\\n' "$i" "it is no longer a regular file"
  elif [ -e "$path" ]; then
    why=$(rm -f -- "$path" 2>&1) || printf '%s\\t%s\\n' "$i" "$why"
  fi
  i=$((i + 1))
done
`;

/** Names per delete command: each is an argument, and an SSH command line has to stay well under 128 KiB. */
const DELETE_BATCH = 200;

/**
 * `$1` path. Prints the path with every link followed, a newline, then at most the bound's bytes of the file; a file
 * that is not regular or is too large is refused before it is read: stderr says `kind K size N`, exit 3.
 */
const READ_SCRIPT = `f=$(readlink -f -- "$1") && [ -e "$f" ] || { echo "No such file or directory" >&2; exit 1; }
if [ -d "$f" ]; then kind=directory; elif [ -p "$f" ]; then kind=fifo; elif [ -f "$f" ]; then kind=file; else kind=other; fi
size=0
if [ "$kind" = file ]; then size=$(wc -c < "$f") || exit 1; fi
if [ "$kind" != file ] || [ "$size" -gt ${MAX_CONFIG_FILE_BYTES} ]; then echo "kind $kind size $size" >&2; exit 3; fi
printf '%s\\n' "$f"
exec head -c ${MAX_CONFIG_FILE_BYTES} -- "$f"
`;

/**
 * Opens an SSH connection after checking `connection` (so a caller that skipped validation still gets host key
 * verification), through its jump host when it has a `proxy`. Throws HostError naming the host and port (and the
 * jump host, for a failure there) and why the connection failed.
 */
export async function connectSsh(connection: ConnectionInput): Promise<Host> {
  const checked = validateConnection(connection, "connection");
  if (!checked.proxy) return new SshHost(await openClient(checked), labelOf(checked), checked.sudo);
  const jump = await openClient(checked.proxy, "the proxy ");
  try {
    // The jump host opens the TCP connection to the member's host (a direct-tcpip channel, as `ssh -J` does); the
    // SSH session to the member, host key check and login included, runs inside it, end to end.
    const tunnel = await new Promise<Duplex>((resolve, reject) =>
      jump.forwardOut("127.0.0.1", 0, checked.host, checked.port, (err, stream) =>
        err
          ? reject(
              new HostError(
                `cannot connect to ${labelOf(checked)} through the proxy ${labelOf(checked.proxy!)}: ${err.message}`,
              ),
            )
          : resolve(stream),
      ),
    );
    const client = await openClient(checked, "", tunnel);
    client.on("close", () => jump.end());
    return new SshHost(client, `${labelOf(checked)} via ${labelOf(checked.proxy)}`, checked.sudo);
  } catch (error) {
    jump.end();
    throw error;
  }
}

function labelOf({ user, host, port }: Connection): string {
  return `${user}@${host.includes(":") ? `[${host}]` : host}:${port}`;
}

/** One SSH login, over `sock` when given (a jump host's tunnel), else over TCP. */
async function openClient(checked: Connection, role = "", sock?: Duplex): Promise<Client> {
  const { host, port, user, privateKey, privateKeyPassword, password, dialTimeout, agentSocketPath } = checked;
  const label = labelOf(checked);
  const trusted = trustedKeys(checked);
  // Loaded at the first login, not with the provider: a cluster without SSH members never loads ssh2.
  const client = new (require("ssh2") as typeof Ssh2).Client();
  let presented: Buffer | undefined;

  await new Promise<void>((resolve, reject) => {
    let settled = false;
    const fail = (cause: string) => {
      if (settled) return;
      settled = true;
      client.end();
      reject(new HostError(`cannot connect to ${role}${label}: ${cause}`));
    };
    client.once("ready", () => {
      settled = true;
      resolve();
    });
    client.on("close", () => fail("the server closed the connection before the login completed"));
    // Kept for the life of the client: errors after login also fail the command in flight, which reports them, and
    // an 'error' event without a listener would crash the provider.
    client.on("error", (err: Error & { level?: string; code?: string }) =>
      fail(describeConnectError(err, { connection: checked, presented, trusted })),
    );
    client.connect({
      ...(sock ? { sock } : { host, port }),
      username: user,
      privateKey,
      passphrase: privateKeyPassword,
      password,
      agent: agentSocketPath,
      readyTimeout: dialTimeout * 1000,
      keepaliveInterval: KEEPALIVE_INTERVAL_MS,
      keepaliveCountMax: KEEPALIVE_COUNT_MAX,
      algorithms: { serverHostKey: signatureAlgorithms(trusted.accepted) },
      hostVerifier: (key: Buffer) => {
        presented = key;
        return isTrusted(key, trusted);
      },
    });
  });
  return client;
}

interface TrustedKeys {
  readonly accepted: readonly PublicKey[];
  readonly revoked: readonly PublicKey[];
  /** Which inputs the keys came from, for messages. */
  readonly source: string;
}

function trustedKeys({ hostKey, knownHosts, host, port }: Connection): TrustedKeys {
  const accepted: PublicKey[] = [];
  const revoked: PublicKey[] = [];
  // validateConnection has rejected unparsable values, so the error (string) results cannot occur here.
  if (hostKey !== undefined) accepted.push(parsePublicKey(hostKey) as PublicKey);
  if (knownHosts !== undefined) {
    const known = findKnownKeys(knownHosts, host, port) as KnownKeys;
    accepted.push(...known.accepted);
    revoked.push(...known.revoked);
  }
  const source = [hostKey && "hostKey", knownHosts && "knownHosts"].filter(Boolean).join(" and ");
  return { accepted, revoked, source };
}

function isTrusted(key: Buffer, trusted: TrustedKeys): boolean {
  if (trusted.revoked.some((revoked) => revoked.blob.equals(key))) return false;
  return trusted.accepted.some((accepted) => accepted.blob.equals(key));
}

interface ConnectContext {
  readonly connection: Connection;
  /** The key the server presented, if the handshake got that far. */
  readonly presented?: Buffer;
  readonly trusted: TrustedKeys;
}

/** Why an established connection broke, in plain words. */
function lostReason(err: Error & { level?: string }): string {
  if (err.level === "client-timeout") {
    return `no answer to ${KEEPALIVE_COUNT_MAX} keepalives ${formatDuration(KEEPALIVE_INTERVAL_MS)} apart: the host or the network to it is down`;
  }
  return err.message;
}

/** Plain words for the usual connection failures; ssh2's own messages assume SSH protocol knowledge. */
function describeConnectError(err: Error & { level?: string; code?: string }, context: ConnectContext): string {
  const { connection, presented, trusted } = context;
  if (presented && !isTrusted(presented, trusted)) {
    const shown = `${blobType(presented)} ${fingerprint(presented)}`;
    if (trusted.revoked.some((revoked) => revoked.blob.equals(presented))) {
      return `the host key ${shown} is marked @revoked in knownHosts`;
    }
    const expected = trusted.accepted.map((key) => `${key.type} ${fingerprint(key.blob)}`).join(", ");
    return (
      `the host key does not match: the server presented ${shown}, but ${trusted.source} expects ${expected}. ` +
      "Someone may be intercepting the connection, or the host was reinstalled; check the key on the host before updating it"
    );
  }
  if (err.level === "handshake" && /host key/i.test(err.message)) {
    const types = [...new Set(trusted.accepted.map((key) => key.type))].join(", ");
    return `the server has no host key of the type given in ${trusted.source} (${types})`;
  }
  if (err.level === "client-authentication") {
    const methods = [
      connection.privateKey && "the private key",
      connection.password && "the password",
      connection.agentSocketPath && `the agent at ${connection.agentSocketPath}`,
    ].filter(Boolean);
    return `authentication failed for user "${connection.user}" with ${methods.join(" and ")}`;
  }
  if (err.level === "client-timeout") {
    return `timed out after ${formatDuration(connection.dialTimeout * 1000)} (dialTimeout) connecting and logging in`;
  }
  switch (err.code) {
    case "ECONNREFUSED":
      return `connection refused: nothing is listening on port ${connection.port}`;
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return "the host name does not resolve";
    case "EHOSTUNREACH":
    case "ENETUNREACH":
      return "the host is unreachable";
    case "ECONNRESET":
      return "the server reset the connection";
  }
  return err.message;
}

class SshHost implements Host {
  private closed = false;
  /** Why the connection broke after login (ssh2's error), for the commands it takes down. */
  private lost: string | undefined;

  constructor(
    private readonly client: Client,
    readonly label: string,
    private readonly sudo: boolean,
  ) {
    client.on("close", () => (this.closed = true));
    client.on("error", (err: Error) => (this.lost ??= lostReason(err)));
  }

  async readFile(path: string): Promise<FileRead> {
    checkPath(this.label, path);
    const result = await this.exec(READ_SCRIPT, [path], FILE_TIMEOUT_MS, `read ${path}`);
    const refused = result.code === 3 ? /^kind (\w+) size (\d+)$/m.exec(result.stderr) : null;
    if (refused) {
      const reason = unreadableReason(refused[1] as Parameters<typeof unreadableReason>[0], Number(refused[2]));
      throw new HostError(`${this.label}: cannot read ${path}: ${reason}`);
    }
    if (result.code !== 0) throw new HostError(`${this.label}: cannot read ${path}: ${lastLine(result.stderr)}`);
    const newline = result.stdout.indexOf("\n");
    return { realPath: result.stdout.slice(0, newline), text: result.stdout.slice(newline + 1) };
  }

  async writeFileAtomic(path: string, text: string, options: WriteOptions = {}): Promise<{ backupPath: string }> {
    const backupPath = options.backupPath ?? defaultBackupPath(path);
    checkPath(this.label, path);
    checkPath(this.label, backupPath);
    const input = Buffer.from(text, "utf8");
    const result = await this.exec(WRITE_SCRIPT, [path, backupPath], FILE_TIMEOUT_MS, `write ${path}`, input);
    if (result.code !== 0) throw new HostError(`${this.label}: cannot write ${path}: ${lastLine(result.stderr)}`);
    return { backupPath };
  }

  async restore(path: string, backupPath: string): Promise<void> {
    checkPath(this.label, path);
    checkPath(this.label, backupPath);
    const result = await this.exec(RESTORE_SCRIPT, [path, backupPath], FILE_TIMEOUT_MS, `restore ${path}`);
    if (result.code !== 0) {
      throw new HostError(`${this.label}: cannot restore ${path} from ${backupPath}: ${lastLine(result.stderr)}`);
    }
  }

  async pruneBackups(backupPath: string, keep: number): Promise<PruneResult> {
    checkPath(this.label, backupPath);
    const slash = backupPath.lastIndexOf("/");
    const folder = backupPath.slice(0, slash) || "/";
    const justWritten = backupPath.slice(slash + 1);
    const listed = await this.exec(LIST_BACKUPS_SCRIPT, [folder], FILE_TIMEOUT_MS, `list the backups in ${folder}`);
    if (listed.code !== 0) {
      throw new HostError(`${this.label}: cannot list the backups in ${folder}: ${lastLine(listed.stderr)}`);
    }
    // find printed only regular files; the selection still checks every name against the backup's exact naming.
    const entries = listed.stdout
      .split("\0")
      .filter((path) => path !== "")
      .map((path) => ({ name: path.slice(path.lastIndexOf("/") + 1), type: "file" as const }));
    const doomed = backupsToDelete(entries, justWritten, keep);
    const inFolder = (name: string) => `${folder === "/" ? "" : folder}/${name}`;
    const kept: { path: string; reason: string }[] = [];
    for (let i = 0; i < doomed.length; i += DELETE_BATCH) {
      const batch = doomed.slice(i, i + DELETE_BATCH);
      const result = await this.exec(
        DELETE_BACKUPS_SCRIPT,
        [folder, ...batch],
        FILE_TIMEOUT_MS,
        `delete old backups in ${folder}`,
      );
      if (result.code !== 0) {
        const reason = lastLine(result.stderr);
        kept.push(...batch.map((name) => ({ path: inFolder(name), reason })));
        continue;
      }
      for (const line of result.stdout.split("\n")) {
        const report = /^(\d+)\t(.*)$/.exec(line);
        const name = report ? batch[Number(report[1])] : undefined;
        if (report === null || name === undefined) continue;
        // rm says "rm: cannot remove '<path>': <reason>"; the path is already in the report.
        const said = report[2];
        kept.push({ path: inFolder(name), reason: said.slice(said.lastIndexOf(": ") + 1).trim() || said });
      }
    }
    const failed = new Set(kept.map((k) => k.path));
    return { deleted: doomed.map(inFolder).filter((path) => !failed.has(path)), kept };
  }

  async run(command: string, options: RunOptions): Promise<CommandResult> {
    checkTimeout(options.timeoutMs);
    return this.exec(command, [], options.timeoutMs, command);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.client.destroy();
        resolve();
      }, CLOSE_WAIT_MS);
      this.client.once("close", () => {
        clearTimeout(timer);
        resolve();
      });
      this.client.end();
    });
  }

  /** Runs `script` with `args` as `$1`... under the remote timeout; `what` names it in messages. */
  private exec(
    script: string,
    args: string[],
    timeoutMs: number,
    what: string,
    input?: Buffer,
  ): Promise<CommandResult> {
    const command = remoteCommand(script, args, { sudo: this.sudo, timeoutMs });
    const started = performance.now();
    return new Promise((resolve, reject) => {
      let channel: ClientChannel | undefined;
      let settled = false;
      const settle = (outcome: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        outcome();
      };
      const timer = setTimeout(() => {
        channel?.close();
        const waited = formatDuration(timeoutMs + REPORT_GRACE_MS);
        settle(() => reject(new TimeoutError(`${this.label}: no answer within ${waited} from: ${abbreviate(what)}`)));
      }, timeoutMs + REPORT_GRACE_MS);
      const failed = (cause: string) =>
        settle(() => reject(new HostError(`${this.label}: cannot run ${abbreviate(what)}: ${cause}`)));

      try {
        this.client.exec(command, (err, opened) => {
          if (err) return failed(err.message);
          channel = opened;
          const stdout: Buffer[] = [];
          const stderr: Buffer[] = [];
          let code: number | null = null;
          let signal: string | undefined;
          opened.on("data", (chunk: Buffer) => stdout.push(chunk));
          opened.stderr.on("data", (chunk: Buffer) => stderr.push(chunk));
          opened.on("exit", (exitCode: number | null, exitSignal?: string) => {
            code = exitCode;
            signal = exitSignal;
          });
          opened.on("close", () => {
            if (code === null && signal === undefined) {
              return failed(
                this.lost
                  ? `the connection was lost before it finished (${this.lost})`
                  : "the connection closed before it finished",
              );
            }
            const result: CommandResult = {
              stdout: Buffer.concat(stdout).toString("utf8"),
              stderr: Buffer.concat(stderr).toString("utf8"),
              code: code ?? 128 + (osConstants.signals[signal as NodeJS.Signals] ?? 0),
            };
            // `timeout -s KILL` takes itself down with the command, so a timeout shows as SIGKILL (137).
            if (result.code === 137 && performance.now() - started >= timeoutMs) {
              const after = formatDuration(timeoutMs);
              const message = `${this.label}: command timed out after ${after} and was killed: ${abbreviate(what)}`;
              return settle(() => reject(new TimeoutError(message)));
            }
            const wrapperFailure = this.wrapperFailure(result);
            if (wrapperFailure) return failed(wrapperFailure);
            settle(() => resolve(result));
          });
          opened.end(input);
        });
      } catch (err) {
        // ssh2 throws synchronously once the connection is gone.
        failed(err instanceof Error ? err.message : String(err));
      }
    });
  }

  /** Failures of the `sudo`/`timeout` wrapper, as opposed to the command: those mean the command never ran. */
  private wrapperFailure(result: CommandResult): string | undefined {
    if (result.code === 127 && /\btimeout\b.*not found/.test(result.stderr)) {
      return "the host has no `timeout` command (GNU coreutils)";
    }
    if (!this.sudo) return undefined;
    if (result.code === 127 && /\bsudo\b.*not found/.test(result.stderr)) {
      return "the host has no sudo; log in as root or set sudo: false";
    }
    if (result.code === 1 && /^sudo: /.test(result.stderr)) {
      return `${lastLine(result.stderr)}; the login user needs passwordless sudo (NOPASSWD), or set sudo: false if it can edit the files itself`;
    }
    return undefined;
  }
}

function lastLine(text: string): string {
  const lines = text.trim().split("\n");
  return lines[lines.length - 1] || "failed without a message";
}
