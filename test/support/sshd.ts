import type { ChildProcess } from "node:child_process";
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inNamespace } from "../../lab/cluster";
import type { LabHost } from "../../lab/netns";

const SSHD = "/usr/sbin/sshd";
const START_TIMEOUT_MS = 10_000;

/** A throwaway OpenSSH server on 127.0.0.1 (or on a lab network host) that accepts one key for root. */
export interface TestSshd {
  /** The address it listens on. */
  readonly address: string;
  /** The port it listens on. */
  readonly port: number;
  /** Its host public key line, `ssh-ed25519 AAAA... comment`. */
  readonly hostKey: string;
  /** The private key (OpenSSH format) it accepts for `user`. */
  readonly privateKey: string;
  /** The login user; root, because the tests run as root and sshd cannot switch to anyone else unprivileged. */
  readonly user: string;
  /** Its temp directory (keys, config, the `sudo` shim); removed by stop(). */
  readonly dir: string;
  /** Lines the `sudo` shim logged, one per call, with its arguments. */
  sudoCalls(): string[];
  /** Stops the server and removes its directory. Safe to call twice. */
  stop(): Promise<void>;
}

/**
 * Starts sshd in the foreground (`-D`, logging to stderr with `-e`) with its own config, keys and pid file in a temp
 * dir. Sessions get HOME set to that dir and a PATH that starts with a `sudo` shim which logs its first arguments,
 * checks for `-n` and runs the rest, so the sudo code path runs end to end as root without a real sudo or an
 * unprivileged user.
 */
export async function startSshd(
  host?: Pick<LabHost, "namespace" | "address">,
  options: {
    readonly realSudo?: boolean;
    /** The host key's type; ed25519 unless given. */
    readonly hostKeyType?: "ed25519" | "rsa";
    /** More sshd_config lines, e.g. `HostKeyAlgorithms ssh-rsa`. */
    readonly extraConfig?: readonly string[];
  } = {},
): Promise<TestSshd> {
  ensureSshd();
  // sshd refuses to start without its privilege separation directory, which the package creates only at boot.
  mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });
  const dir = mkdtempSync(join(tmpdir(), "etcd-quota-sshd-"));
  const hostKeyName = `host_${options.hostKeyType ?? "ed25519"}`;
  const hostKeyFile = join(dir, hostKeyName);
  const hostKey = generateKey(dir, hostKeyName, options.hostKeyType ?? "ed25519");
  const userKey = generateKey(dir, "user_ed25519");
  writeFileSync(join(dir, "authorized_keys"), `${userKey.publicKey}\n`);
  mkdirSync(join(dir, "bin"));
  const sudoLog = join(dir, "sudo.log");
  writeFileSync(
    join(dir, "bin", "sudo"),
    `#!/bin/sh\necho "$1 $2 $3 $4 $5" >> '${sudoLog}'\n[ "$1" = -n ] || { echo "sudo: test shim expects -n" >&2; exit 1; }\nshift\nexec "$@"\n`,
    { mode: 0o755 },
  );

  const address = host?.address ?? "127.0.0.1";
  let attempt = 0;
  for (;;) {
    // A lab host is a machine of its own: sshd gets the standard port there.
    const port = host ? 22 : await freePort();
    const configFile = join(dir, "sshd_config");
    writeFileSync(
      configFile,
      config(dir, address, port, hostKeyFile, options.realSudo ?? false) + (options.extraConfig ?? []).join("\n"),
    );
    try {
      const child = await launch(configFile, address, port, host?.namespace);
      return running(child, {
        dir,
        address,
        port,
        hostKey: hostKey.publicKey,
        privateKey: userKey.privateKey,
        sudoLog,
      });
    } catch (err) {
      // Another process can take the port between freePort() closing it and sshd binding it.
      if (++attempt >= 3 || !/Address already in use/.test(String(err))) {
        rmSync(dir, { recursive: true, force: true });
        throw err;
      }
    }
  }
}

/** A new key pair made by ssh-keygen in `dir`: the private key text and the public key line. */
export function generateKey(
  dir: string,
  name: string,
  type: "ed25519" | "ecdsa" | "rsa" = "ed25519",
  passphrase = "",
): { readonly privateKey: string; readonly publicKey: string } {
  const file = join(dir, name);
  execFileSync("ssh-keygen", ["-q", "-t", type, "-N", passphrase, "-C", name, "-f", file]);
  return { privateKey: readFileSync(file, "utf8"), publicKey: readFileSync(`${file}.pub`, "utf8").trim() };
}

function ensureSshd(): void {
  if (existsSync(SSHD)) return;
  if (process.getuid?.() !== 0) throw new Error(`${SSHD} is missing; install openssh-server to run the SSH tests`);
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  execFileSync("apt-get", ["update", "-qq"], { env, stdio: "inherit" });
  execFileSync("apt-get", ["install", "-y", "-qq", "--no-install-recommends", "openssh-server"], {
    env,
    stdio: "inherit",
  });
}

function config(dir: string, address: string, port: number, hostKeyFile: string, realSudo: boolean): string {
  return [
    `ListenAddress ${address}`,
    `Port ${port}`,
    `HostKey ${hostKeyFile}`,
    `PidFile ${join(dir, "sshd.pid")}`,
    `AuthorizedKeysFile ${join(dir, "authorized_keys")}`,
    // The temp dir is not laid out like a home directory, so the ownership checks would refuse the key.
    "StrictModes no",
    "UsePAM no",
    "PermitRootLogin prohibit-password",
    "PasswordAuthentication no",
    "KbdInteractiveAuthentication no",
    // HOME keeps the developer's ~/.bashrc (which bash sources for SSH commands) out of the sessions: it is slow and
    // not what the tests are about. PATH puts the sudo shim first, unless the test wants the system's sudo.
    `SetEnv HOME=${dir} PATH=${realSudo ? "" : `${join(dir, "bin")}:`}/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`,
    "",
  ].join("\n");
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() =>
        typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port")),
      );
    });
  });
}

/** Resolves once sshd says it is listening; rejects with its log if it exits or stays silent. */
function launch(configFile: string, address: string, port: number, namespace?: string): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const [binary, ...args] = inNamespace(namespace, [SSHD, "-D", "-e", "-f", configFile]);
    const child = spawn(binary, args, { stdio: ["ignore", "ignore", "pipe"] });
    let log = "";
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`sshd did not start within ${START_TIMEOUT_MS} ms:\n${log}`));
    }, START_TIMEOUT_MS);
    const onData = (chunk: Buffer) => {
      log += chunk.toString();
      if (log.includes(`Server listening on ${address} port ${port}`)) {
        clearTimeout(timer);
        child.stderr?.off("data", onData);
        // Keep draining so a chatty sshd never blocks on a full pipe.
        child.stderr?.resume();
        resolve(child);
      }
    };
    child.stderr?.on("data", onData);
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`sshd exited (${signal ?? code}) before listening:\n${log}`));
    });
  });
}

function running(
  child: ChildProcess,
  started: Pick<TestSshd, "dir" | "address" | "port" | "hostKey" | "privateKey"> & { readonly sudoLog: string },
): TestSshd {
  const { dir, sudoLog } = started;
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once("exit", () => resolve());
  });
  // A crashed or interrupted test run must not leave a root sshd listening.
  const onExit = () => {
    child.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  };
  process.on("exit", onExit);
  return {
    dir,
    address: started.address,
    port: started.port,
    hostKey: started.hostKey,
    privateKey: started.privateKey,
    user: "root",
    sudoCalls: () => (existsSync(sudoLog) ? readFileSync(sudoLog, "utf8").trim().split("\n") : []),
    async stop() {
      process.off("exit", onExit);
      child.kill("SIGTERM");
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
