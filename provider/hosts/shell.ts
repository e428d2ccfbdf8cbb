/**
 * Quotes one word for a POSIX shell. Single quotes keep everything literal except the single quote itself, which is
 * closed, escaped and reopened, so no input can break out into shell syntax.
 */
export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** How a command is run on a remote host. */
export interface RemoteCommandOptions {
  /** Prefix with `sudo -n`, which fails at once instead of waiting for a password nobody will type. */
  readonly sudo: boolean;
  /** The remote side kills the whole process group after this many milliseconds. */
  readonly timeoutMs: number;
}

/**
 * Builds the command line for an SSH exec request: `script` runs under `sh -c` with `args` as `$1`, `$2`, ...
 *
 * Passing paths as positional parameters instead of splicing them into the script keeps the scripts constant and
 * means each path is quoted exactly once. The remote `timeout` is what guarantees nothing is left running: closing an
 * SSH channel does not stop a command that is not writing, and a signal request from the client would run as the
 * login user, who cannot signal processes started by sudo.
 */
export function remoteCommand(script: string, args: readonly string[], options: RemoteCommandOptions): string {
  const words = [
    ...(options.sudo ? ["sudo", "-n"] : []),
    "timeout",
    "-s",
    "KILL",
    formatSeconds(options.timeoutMs),
    "sh",
    "-c",
    shellQuote(script),
    "sh",
    ...args.map(shellQuote),
  ];
  return words.join(" ");
}

/** `timeout` takes seconds; GNU coreutils accepts fractions, so sub-second bounds stay exact. */
function formatSeconds(ms: number): string {
  return String(Math.ceil(ms) / 1000);
}
