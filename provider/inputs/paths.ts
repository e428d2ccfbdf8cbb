import { HostError } from "../errors";

/**
 * Refuses paths the file operations cannot handle safely; `host` is the host label for the message. Paths must be
 * absolute because a relative one would resolve against whatever directory the provider or the login happens to use.
 * NUL cannot travel through argv at all, and `$(...)` in the remote scripts strips trailing newlines.
 */
export function checkPath(host: string, path: string): void {
  if (/[\0\n]/.test(path)) {
    throw new HostError(`${host}: refusing the path ${JSON.stringify(path)}: it contains a NUL or newline character`);
  }
  if (!path.startsWith("/")) throw new HostError(`${host}: refusing the path "${path}": it must be absolute`);
}
