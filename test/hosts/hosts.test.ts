import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import {
  chmodSync,
  chownSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  truncateSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import type { AddressInfo, Socket } from "node:net";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { HostError, InvalidInputError, TimeoutError } from "../../provider/errors";
import type { ConnectionInput } from "../../provider/inputs/connection";
import { validateConnection } from "../../provider/inputs/connection";
import type { Host } from "../../provider/hosts/host";
import { localHost } from "../../provider/hosts/local";
import { remoteCommand, shellQuote } from "../../provider/hosts/shell";
import { connectSsh } from "../../provider/hosts/ssh";
import { HostPool } from "../../provider/run/quota";
import type { TestSshd } from "../support/sshd";
import { generateKey, startSshd } from "../support/sshd";

/** Owner given to test files, so keeping the owner is not satisfied by accident (the tests run as root). */
const OWNER = { uid: 4321, gid: 8765 };

/** Processes whose command line contains `marker`, found through /proc so no helper process can match itself. */
function processesWith(marker: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync("/proc").filter((name) => /^\d+$/.test(name))) {
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0/g, " ");
      if (cmdline.includes(marker)) found.push(`${pid}: ${cmdline}`);
    } catch {
      // The process ended while we looked.
    }
  }
  return found;
}

// One describe around everything keeps the sshd hooks from running for the other test files.
describe("hosts", function () {
  let sshd: TestSshd;
  let keys: string;

  before(async function () {
    keys = mkdtempSync(join(tmpdir(), "etcd-quota-keys-"));
    sshd = await startSshd();
  });

  after(async function () {
    await sshd?.stop();
    rmSync(keys, { recursive: true, force: true });
  });

  function sshConnection(overrides: Partial<ConnectionInput> = {}): ConnectionInput {
    return { host: "127.0.0.1", port: sshd.port, privateKey: sshd.privateKey, hostKey: sshd.hostKey, ...overrides };
  }

  const targets: { readonly name: string; readonly label: () => string; readonly open: () => Promise<Host> }[] = [
    { name: "local", label: () => "local", open: async () => localHost() },
    { name: "ssh", label: () => `root@127.0.0.1:${sshd.port}`, open: () => connectSsh(sshConnection()) },
    {
      name: "ssh with sudo",
      label: () => `root@127.0.0.1:${sshd.port}`,
      open: () => connectSsh(sshConnection({ sudo: true })),
    },
  ];

  for (const target of targets) {
    describe(`${target.name} host`, function () {
      let host: Host;
      let dir: string;
      let file: string;

      before(async function () {
        host = await target.open();
      });

      after(async function () {
        await host?.close();
      });

      beforeEach(function () {
        dir = mkdtempSync(join(tmpdir(), "etcd-quota-host-"));
        file = join(dir, "etcd.conf");
        writeFileSync(file, "name: old\n# ünïcode, no trailing newline");
        chownSync(file, OWNER.uid, OWNER.gid);
        chmodSync(file, 0o640);
      });

      afterEach(function () {
        rmSync(dir, { recursive: true, force: true });
      });

      it("has the expected label", function () {
        assert.equal(host.label, target.label());
      });

      it("reads a file exactly, and says where a symlink leads", async function () {
        assert.deepEqual(await host.readFile(file), {
          text: "name: old\n# ünïcode, no trailing newline",
          realPath: file,
        });
        const link = join(dir, "link.conf");
        symlinkSync(`.${"/."}/etcd.conf`, link);
        assert.deepEqual(await host.readFile(link), {
          text: "name: old\n# ünïcode, no trailing newline",
          realPath: file,
        });
      });

      it("refuses what is not a regular file at once, without reading it: a FIFO, a device, /dev/stdin", async function () {
        const fifo = join(dir, "etcd.env");
        execFileSync("mkfifo", [fifo]);
        const cases: [string, RegExp][] = [
          [fifo, /it is a named pipe \(FIFO\); only regular files are read/],
          ["/dev/zero", /it is a device or a socket; only regular files are read/],
          ["/dev/stdin", /only regular files are read|no such file/i],
        ];
        for (const [path, reason] of cases) {
          const started = Date.now();
          await assert.rejects(host.readFile(path), (err: Error) => {
            assert.ok(err instanceof HostError, String(err));
            assert.match(err.message, reason);
            assert.ok(err.message.includes(path), err.message);
            return true;
          });
          assert.ok(Date.now() - started < 10_000, `${path} answered at once, not after a wait`);
        }
      });

      it("refuses a file larger than 1 MiB without reading it (a sparse 4 GiB file)", async function () {
        const huge = join(dir, "huge.conf");
        writeFileSync(huge, "");
        truncateSync(huge, 4 * 1024 ** 3);
        await assert.rejects(host.readFile(huge), (err: Error) => {
          assert.ok(err instanceof HostError, String(err));
          assert.match(err.message, /it is 4 GiB, more than the 1 MiB a config file of etcd can need; it was not read/);
          return true;
        });
        writeFileSync(huge, "x".repeat(1024 ** 2));
        assert.equal((await host.readFile(huge)).text.length, 1024 ** 2, "1 MiB itself is read");
      });

      it("names the host and path when a file is missing", async function () {
        const missing = join(dir, "missing.conf");
        await assert.rejects(host.readFile(missing), (err: Error) => {
          assert.ok(err instanceof HostError, String(err));
          assert.ok(err.message.includes(target.label()), err.message);
          assert.ok(err.message.includes(missing), err.message);
          return true;
        });
      });

      it("refuses relative paths and paths with a newline or NUL", async function () {
        for (const path of ["etcd.conf", `${dir}/a\nb`, `${dir}/a\0b`]) {
          await assert.rejects(host.readFile(path), HostError);
          await assert.rejects(host.writeFileAtomic(path, "x"), HostError);
        }
      });

      it("writes atomically, keeping mode and owner, and backs up the old bytes", async function () {
        const inodeBefore = statSync(file).ino;
        const { backupPath } = await host.writeFileAtomic(file, "name: new\n");

        assert.match(backupPath, /\/etcd\.conf\.bak-\d{8}T\d{6}\.\d{3}Z$/);
        assert.equal(readFileSync(file, "utf8"), "name: new\n");
        assert.equal(readFileSync(backupPath, "utf8"), "name: old\n# ünïcode, no trailing newline");
        for (const path of [file, backupPath]) {
          const stats = statSync(path);
          assert.equal(stats.mode & 0o7777, 0o640, path);
          assert.deepEqual({ uid: stats.uid, gid: stats.gid }, OWNER, path);
        }
        // A new inode shows the file was renamed into place rather than rewritten where readers could see it half done.
        assert.notEqual(statSync(file).ino, inodeBefore);
        assert.deepEqual(readdirSync(dir).sort(), ["etcd.conf", backupPath.slice(dir.length + 1)].sort());
      });

      it("uses the backup path it is given, replacing an older backup there", async function () {
        const backupPath = join(dir, "etcd.conf.orig");
        writeFileSync(backupPath, "stale");
        assert.deepEqual(await host.writeFileAtomic(file, "name: new\n", { backupPath }), { backupPath });
        assert.equal(readFileSync(backupPath, "utf8"), "name: old\n# ünïcode, no trailing newline");
      });

      it("writes through a symlink, keeping the link", async function () {
        const link = join(dir, "link.conf");
        symlinkSync(file, link);
        await host.writeFileAtomic(link, "name: linked\n", { backupPath: join(dir, "link.bak") });
        assert.equal(readFileSync(file, "utf8"), "name: linked\n");
        assert.ok(statSync(file).isFile());
        assert.equal(readFileSync(link, "utf8"), "name: linked\n");
        assert.equal(execFileSync("readlink", [link], { encoding: "utf8" }).trim(), file);
      });

      it("refuses to create a file that does not exist", async function () {
        const missing = join(dir, "missing.conf");
        await assert.rejects(host.writeFileAtomic(missing, "x"), (err: Error) => {
          assert.ok(err instanceof HostError, String(err));
          assert.ok(err.message.includes(target.label()) && err.message.includes(missing), err.message);
          return true;
        });
        assert.deepEqual(readdirSync(dir), ["etcd.conf"]);
      });

      it("restores a backup, with its mode and owner, even after the file was deleted", async function () {
        const { backupPath } = await host.writeFileAtomic(file, "name: new\n");
        await host.restore(file, backupPath);
        assert.equal(readFileSync(file, "utf8"), "name: old\n# ünïcode, no trailing newline");
        assert.equal(readFileSync(backupPath, "utf8"), "name: old\n# ünïcode, no trailing newline");

        unlinkSync(file);
        await host.restore(file, backupPath);
        const stats = statSync(file);
        assert.equal(stats.mode & 0o7777, 0o640);
        assert.deepEqual({ uid: stats.uid, gid: stats.gid }, OWNER);
        assert.equal(readdirSync(dir).length, 2, "no temp files left behind");
      });

      it("names the host and backup when restoring from a missing backup", async function () {
        const backupPath = join(dir, "gone.bak");
        await assert.rejects(host.restore(file, backupPath), (err: Error) => {
          assert.ok(err instanceof HostError, String(err));
          assert.ok(err.message.includes(target.label()) && err.message.includes(backupPath), err.message);
          return true;
        });
      });

      it("prunes a file's old backups to keepBackups after a write, and nothing else in the folder (hostile names)", async function () {
        const victimDir = mkdtempSync(join(tmpdir(), "etcd-quota-victim-"));
        try {
          const victim = join(victimDir, "victim");
          writeFileSync(victim, "not a backup");
          /** Eight backups of etcd.conf, oldest first, each with bytes of its own. */
          const old = Array.from({ length: 8 }, (_, i) => `etcd.conf.bak-2026010${i + 1}T000000.000Z`);
          old.forEach((name, i) => writeFileSync(join(dir, name), `backup ${i + 1}`));
          // Named as backups of etcd.conf, but not regular files: a link to a file elsewhere (named oldest, and named
          // newest), a folder, a FIFO.
          symlinkSync(victim, join(dir, "etcd.conf.bak-20000101T000000.000Z"));
          symlinkSync(victim, join(dir, "etcd.conf.bak-20991231T235959.999Z"));
          mkdirSync(join(dir, "etcd.conf.bak-20000102T000000.000Z"));
          writeFileSync(join(dir, "etcd.conf.bak-20000102T000000.000Z", "inside"), "inside");
          execFileSync("mkfifo", [join(dir, "etcd.conf.bak-20000103T000000.000Z")]);
          // Regular files, old, but not named exactly as etcd.conf's backups.
          const others = [
            "other.conf.bak-20000101T000000.000Z",
            ".etcd.conf.bak-20000101T000000.000Z",
            "etcd.conf.bak-20000101T000000.000Z.orig",
            "etcd.conf.bak-20000101T000000.000Z\n",
            "etcd.conf.bak-..",
            "xetcd.conf.bak-20000101T000000.000Z",
          ];
          for (const name of others) writeFileSync(join(dir, name), `other ${JSON.stringify(name)}`);
          const before = readdirSync(dir);

          const { backupPath } = await host.writeFileAtomic(file, "name: new\n");
          const result = await host.pruneBackups(backupPath, 3);

          const justWritten = backupPath.slice(dir.length + 1);
          assert.deepEqual(
            readdirSync(dir).sort(),
            [...before.filter((name) => !old.slice(0, 6).includes(name)), justWritten].sort(),
          );
          assert.deepEqual(
            { deleted: [...result.deleted].sort(), kept: result.kept },
            { deleted: old.slice(0, 6).map((name) => join(dir, name)), kept: [] },
          );
          assert.equal(readFileSync(backupPath, "utf8"), "name: old\n# ünïcode, no trailing newline");
          assert.equal(readFileSync(join(dir, old[6]), "utf8"), "backup 7");
          assert.equal(readFileSync(join(dir, old[7]), "utf8"), "backup 8");
          assert.equal(readFileSync(file, "utf8"), "name: new\n");
          for (const name of others)
            assert.equal(readFileSync(join(dir, name), "utf8"), `other ${JSON.stringify(name)}`);
          assert.equal(readFileSync(victim, "utf8"), "not a backup");
          for (const name of ["etcd.conf.bak-20000101T000000.000Z", "etcd.conf.bak-20991231T235959.999Z"]) {
            assert.equal(readlinkSync(join(dir, name)), victim, name);
          }
          assert.equal(readFileSync(join(dir, "etcd.conf.bak-20000102T000000.000Z", "inside"), "utf8"), "inside");
          assert.ok(lstatSync(join(dir, "etcd.conf.bak-20000103T000000.000Z")).isFIFO());
        } finally {
          rmSync(victimDir, { recursive: true, force: true });
        }
      });

      it("says which folder it could not list its backups in", async function () {
        const backupPath = join(dir, "gone", "etcd.conf.bak-20260101T000000.000Z");
        await assert.rejects(host.pruneBackups(backupPath, 3), (err: Error) => {
          assert.ok(err instanceof HostError, String(err));
          assert.ok(err.message.includes(target.label()) && err.message.includes(join(dir, "gone")), err.message);
          return true;
        });
      });

      it("runs a command and returns its output and exit code without throwing", async function () {
        const result = await host.run(`printf '%s\\n' "it's" "$((6 * 7))"; echo oops >&2; exit 3`, {
          timeoutMs: 10_000,
        });
        assert.deepEqual(result, { stdout: "it's\n42\n", stderr: "oops\n", code: 3 });
      });

      it("kills a command and everything it started when it times out", async function () {
        const marker = `etcd-quota-timeout-${process.pid}-${Date.now()}`;
        const started = Date.now();
        await assert.rejects(
          host.run(`(sleep 30; : ${marker}) & sleep 30; : ${marker}`, { timeoutMs: 1000 }),
          (err: Error) => {
            assert.ok(err instanceof TimeoutError, String(err));
            assert.ok(err.message.includes(target.label()), err.message);
            return true;
          },
        );
        const elapsed = Date.now() - started;
        // Ended by the 1 s timeout it was given, not by the command, which alone runs 30 s.
        assert.ok(elapsed >= 1000 && elapsed < 30_000, `took ${elapsed} ms`);
        assert.deepEqual(processesWith(marker), []);
      });

      it("rejects a timeout that is not a positive number", async function () {
        await assert.rejects(host.run("true", { timeoutMs: 0 }), HostError);
        await assert.rejects(host.run("true", { timeoutMs: Number.NaN }), HostError);
      });
    });
  }

  describe("local host", function () {
    /**
     * Swaps `$ARGV[0]` between a regular file and a FIFO as fast as it can, each made under its own name and renamed
     * over the path, so the path always exists and is one or the other, for about as long each time.
     */
    const SWAPPER = `my ($path, $file, $fifo, $scratch) = @ARGV;
sub put { open(my $out, ">", $_[0]) or die; print $out "ETCD_NAME=m1\\n"; close $out; }
put($file); POSIX::mkfifo($fifo, 0600) or die;
while (1) {
  rename($file, $path) or die; put($file);
  rename($fifo, $path) or die; POSIX::mkfifo($fifo, 0600) or die; put($scratch);
}`;

    it("never blocks on a FIFO swapped in for the file while it reads (a real swap, raced 1,000 times)", async function () {
      this.timeout(60_000);
      const dir = mkdtempSync(join(tmpdir(), "etcd-quota-fifo-"));
      const path = join(dir, "etcd.env");
      writeFileSync(path, "ETCD_NAME=m1\n");
      const swapper = spawn(
        "perl",
        ["-MPOSIX", "-e", SWAPPER, path, join(dir, "file"), join(dir, "fifo"), join(dir, "scratch")],
        {
          stdio: "ignore",
        },
      );
      const exited = new Promise((resolve) => swapper.once("exit", resolve));
      try {
        const host = localHost();
        const seen = { file: 0, fifo: 0 };
        for (let i = 0; i < 1000; i++) {
          try {
            assert.equal((await host.readFile(path)).text, "ETCD_NAME=m1\n");
            seen.file++;
          } catch (err) {
            assert.ok(err instanceof HostError, String(err));
            assert.match(err.message, /it is a named pipe \(FIFO\); only regular files are read/);
            seen.fifo++;
          }
        }
        // Oracle: both kinds were met, so the swap really raced the reads; the old read hung on one of them.
        assert.ok(seen.file > 0 && seen.fifo > 0, `reads met ${JSON.stringify(seen)}`);
      } finally {
        swapper.kill("SIGKILL");
        await exited;
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  describe("ssh host", function () {
    it("sends every command through sudo -n when sudo is on", async function () {
      const before = sshd.sudoCalls().length;
      const host = await connectSsh(sshConnection({ sudo: true }));
      try {
        assert.equal((await host.run("id -u", { timeoutMs: 10_000 })).stdout, "0\n");
        await host.readFile(join(sshd.dir, "authorized_keys"));
      } finally {
        await host.close();
      }
      const calls = sshd.sudoCalls().slice(before);
      assert.equal(calls.length, 2);
      for (const call of calls) assert.match(call, /^-n timeout -s KILL \d+/);
    });

    it("reaches the host through a jump host (proxy), and says so when the jump host is the problem", async function () {
      const jump = await startSshd();
      try {
        const proxy = { host: "127.0.0.1", port: jump.port, privateKey: jump.privateKey, hostKey: jump.hostKey };
        const host = await connectSsh(sshConnection({ proxy }));
        try {
          assert.equal(host.label, `root@127.0.0.1:${sshd.port} via root@127.0.0.1:${jump.port}`);
          assert.equal((await host.run("echo through", { timeoutMs: 10_000 })).stdout, "through\n");
        } finally {
          await host.close();
        }
        const otherKey = generateKey(keys, "other_jump").publicKey;
        await assert.rejects(
          connectSsh(sshConnection({ proxy: { ...proxy, hostKey: otherKey } })),
          new RegExp(
            `^HostError: cannot connect to the proxy root@127\\.0\\.0\\.1:${jump.port}: the host key does not match`,
          ),
        );
      } finally {
        await jump.stop();
      }
      await assert.rejects(
        connectSsh(
          sshConnection({
            proxy: { host: "127.0.0.1", port: jump.port, privateKey: jump.privateKey, hostKey: jump.hostKey },
          }),
        ),
        new RegExp(`cannot connect to the proxy root@127\\.0\\.0\\.1:${jump.port}: connection refused`),
      );
    });

    it("gives members behind different jump hosts at the same address connections of their own (HostPool)", async function () {
      const jump = await startSshd();
      const pool = new HostPool();
      try {
        const member = (connection: ConnectionInput) => ({
          endpoint: "http://127.0.0.1:2379",
          configFile: "/etc/etcd.env",
          format: undefined,
          restartCommand: undefined,
          connection: validateConnection(connection, "connection"),
        });
        const proxy = { host: "127.0.0.1", port: jump.port, privateKey: jump.privateKey, hostKey: jump.hostKey };
        // The same user@host:port, reached directly and through a jump host: two machines in a real network.
        const direct = await pool.for(member(sshConnection()));
        const viaJump = await pool.for(member(sshConnection({ proxy })));
        assert.notEqual(viaJump, direct);
        assert.equal(direct.label, `root@127.0.0.1:${sshd.port}`);
        assert.equal(viaJump.label, `root@127.0.0.1:${sshd.port} via root@127.0.0.1:${jump.port}`);
        // Each one works: a shared connection would have refused the second member as a duplicate instead.
        assert.equal((await viaJump.run("echo through", { timeoutMs: 10_000 })).stdout, "through\n");
        assert.equal(await pool.for(member(sshConnection())), direct, "an equal connection is reused");
        assert.notEqual(await pool.for(member(sshConnection({ sudo: true }))), direct, "sudo is part of it");
      } finally {
        await pool.close();
        await jump.stop();
      }
    });

    it("accepts an RSA host key only with SHA-2 signatures: a server that signs with ssh-rsa (SHA-1) alone is refused", async function () {
      for (const [algorithms, accepted] of [
        ["rsa-sha2-512,rsa-sha2-256", true],
        ["ssh-rsa", false],
      ] as const) {
        const rsa = await startSshd(undefined, {
          hostKeyType: "rsa",
          extraConfig: [`HostKeyAlgorithms ${algorithms}`],
        });
        try {
          const connecting = connectSsh({
            host: "127.0.0.1",
            port: rsa.port,
            privateKey: rsa.privateKey,
            hostKey: rsa.hostKey,
          });
          if (accepted) {
            const host = await connecting;
            assert.equal((await host.run("echo signed", { timeoutMs: 10_000 })).stdout, "signed\n");
            await host.close();
          } else {
            await assert.rejects(connecting, HostError);
          }
        } finally {
          await rsa.stop();
        }
      }
    });

    it("logs in with the key an SSH agent holds (agentSocketPath), no privateKey given", async function () {
      const socket = join(keys, "agent.sock");
      const started = execFileSync("ssh-agent", ["-s", "-a", socket], { encoding: "utf8" });
      const pid = Number(/SSH_AGENT_PID=(\d+)/.exec(started)?.[1]);
      assert.ok(pid > 0, started);
      try {
        const keyFile = join(keys, "agent_key");
        writeFileSync(keyFile, sshd.privateKey, { mode: 0o600 });
        execFileSync("ssh-add", [keyFile], { env: { ...process.env, SSH_AUTH_SOCK: socket }, stdio: "ignore" });
        const host = await connectSsh({
          host: "127.0.0.1",
          port: sshd.port,
          hostKey: sshd.hostKey,
          agentSocketPath: socket,
        });
        try {
          assert.equal((await host.run("echo agent", { timeoutMs: 10_000 })).stdout, "agent\n");
        } finally {
          await host.close();
        }
      } finally {
        process.kill(pid, "SIGTERM");
      }
    });

    it("refuses a server whose host key does not match", async function () {
      const other = generateKey(keys, "other_host").publicKey;
      await assert.rejects(connectSsh(sshConnection({ hostKey: other })), (err: Error) => {
        assert.ok(err instanceof HostError, String(err));
        assert.match(err.message, new RegExp(`^cannot connect to root@127\\.0\\.0\\.1:${sshd.port}: `));
        assert.match(err.message, /host key does not match/);
        return true;
      });
    });

    it("says so when the server has no key of the pinned type", async function () {
      const ecdsa = generateKey(keys, "ecdsa_host", "ecdsa").publicKey;
      await assert.rejects(
        connectSsh(sshConnection({ hostKey: ecdsa })),
        /no host key of the type .*ecdsa-sha2-nistp256/,
      );
    });

    it("accepts the host key from known_hosts, plain or hashed, and honours @revoked", async function () {
      const plain = `# comment\nother.example ${sshd.hostKey}\n[127.0.0.1]:${sshd.port} ${sshd.hostKey}\n`;
      const knownHostsFile = join(keys, "known_hosts");
      writeFileSync(knownHostsFile, plain);
      execFileSync("ssh-keygen", ["-q", "-H", "-f", knownHostsFile], { stdio: "ignore" });
      const hashed = readFileSync(knownHostsFile, "utf8");
      assert.match(hashed, /^\|1\|/m);
      assert.doesNotMatch(hashed, /127\.0\.0\.1/);

      for (const knownHosts of [plain, hashed]) {
        const host = await connectSsh(sshConnection({ hostKey: undefined, knownHosts }));
        await host.close();
      }
      const revoked = `${plain}@revoked * ${sshd.hostKey}\n`;
      await assert.rejects(connectSsh(sshConnection({ hostKey: undefined, knownHosts: revoked })), /@revoked/);
    });

    it("reports a rejected user key as an authentication failure", async function () {
      const stranger = generateKey(keys, "stranger").privateKey;
      await assert.rejects(
        connectSsh(sshConnection({ privateKey: stranger })),
        new RegExp(
          `^HostError: cannot connect to root@127\\.0\\.0\\.1:${sshd.port}: authentication failed for user "root"`,
        ),
      );
    });

    it("reports a refused connection", async function () {
      const stopped = await startSshd();
      await stopped.stop();
      await assert.rejects(
        connectSsh(sshConnection({ port: stopped.port })),
        new RegExp(`127\\.0\\.0\\.1:${stopped.port}: connection refused`),
      );
    });

    it("reports a server that never answers as a timeout", async function () {
      const sockets: Socket[] = [];
      const silent = createServer((socket) => sockets.push(socket));
      await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
      const port = (silent.address() as AddressInfo).port;
      try {
        const started = Date.now();
        await assert.rejects(
          connectSsh(sshConnection({ port, dialTimeout: 0.5 })),
          new RegExp(`127\\.0\\.0\\.1:${port}: timed out after 0\\.5s \\(dialTimeout\\)`),
        );
        // Given up after the 0.5 s dialTimeout it was given, not the 15 s default.
        assert.ok(Date.now() - started < 15_000, `took ${Date.now() - started} ms`);
      } finally {
        for (const socket of sockets) socket.destroy();
        await new Promise((resolve) => silent.close(resolve));
      }
    });

    it("fails with HostError after close", async function () {
      const host = await connectSsh(sshConnection());
      await host.close();
      await assert.rejects(host.run("true", { timeoutMs: 1000 }), HostError);
    });
  });

  describe("validateConnection", function () {
    const field = "members[0].connection";
    let valid: { readonly host: string; readonly privateKey: string; readonly hostKey: string };
    let encrypted: string;

    before(function () {
      valid = { host: "10.0.0.1", privateKey: sshd.privateKey, hostKey: sshd.hostKey };
      encrypted = generateKey(keys, "encrypted", "ed25519", "s3cret-passphrase").privateKey;
    });

    it("fills in the defaults", function () {
      const { host, port, user, sudo, dialTimeout } = validateConnection(valid, field);
      assert.deepEqual(
        { host, port, user, sudo, dialTimeout },
        { host: "10.0.0.1", port: 22, user: "root", sudo: false, dialTimeout: 15 },
      );
      assert.equal(validateConnection({ ...valid, user: "ubuntu" }, field).sudo, true);
      assert.equal(validateConnection({ ...valid, user: "ubuntu", sudo: false }, field).sudo, false);
      assert.equal(
        validateConnection({ ...valid, privateKey: encrypted, privateKeyPassword: "s3cret-passphrase" }, field).host,
        "10.0.0.1",
      );
      assert.equal(
        validateConnection(
          { host: "db-1.example", password: "hunter2", knownHosts: `db-1.example ${sshd.hostKey}` },
          field,
        ).port,
        22,
      );
    });

    const cases: {
      readonly name: string;
      readonly input: () => unknown;
      readonly field: string;
      readonly says: RegExp;
    }[] = [
      { name: "not an object", input: () => "10.0.0.1", field: "", says: /expected an object/ },
      { name: "missing host", input: () => ({ ...valid, host: undefined }), field: ".host", says: /is required/ },
      { name: "host with a space", input: () => ({ ...valid, host: "a b" }), field: ".host", says: /no spaces/ },
      {
        name: "host with shell syntax",
        input: () => ({ ...valid, host: "h;reboot" }),
        field: ".host",
        says: /not a host/,
      },
      {
        name: "host starting with a dash",
        input: () => ({ ...valid, host: "-oProxyCommand=x" }),
        field: ".host",
        says: /not a host/,
      },
      { name: "port 0", input: () => ({ ...valid, port: 0 }), field: ".port", says: /1 to 65535/ },
      { name: "port 65536", input: () => ({ ...valid, port: 65536 }), field: ".port", says: /1 to 65535/ },
      { name: "port as text", input: () => ({ ...valid, port: "22" }), field: ".port", says: /1 to 65535, got "22"/ },
      { name: "user with a space", input: () => ({ ...valid, user: "a b" }), field: ".user", says: /user name/ },
      {
        name: "privateKey not a key",
        input: () => ({ ...valid, privateKey: "hunter2" }),
        field: ".privateKey",
        says: /does not look like a private key/,
      },
      {
        name: "privateKey is a public key",
        input: () => ({ ...valid, privateKey: sshd.hostKey }),
        field: ".privateKey",
        says: /does not look like a private key/,
      },
      {
        name: "privateKey garbled",
        input: () => ({
          ...valid,
          privateKey: "-----BEGIN OPENSSH PRIVATE KEY-----\nhunter2\n-----END OPENSSH PRIVATE KEY-----\n",
        }),
        field: ".privateKey",
        says: /cannot be parsed/,
      },
      {
        name: "encrypted key without passphrase",
        input: () => ({ ...valid, privateKey: encrypted }),
        field: ".privateKeyPassword",
        says: /is required: privateKey is encrypted/,
      },
      {
        name: "encrypted key, wrong passphrase",
        input: () => ({ ...valid, privateKey: encrypted, privateKeyPassword: "hunter2" }),
        field: ".privateKeyPassword",
        says: /does not decrypt/,
      },
      {
        name: "no way to log in",
        input: () => ({ ...valid, privateKey: undefined }),
        field: ".privateKey",
        says: /unless password or agentSocketPath is set/,
      },
      {
        name: "empty password",
        input: () => ({ ...valid, password: "" }),
        field: ".password",
        says: /non-empty string/,
      },
      {
        name: "no host key verification",
        input: () => ({ host: "10.0.0.1", port: 2222, password: "hunter2" }),
        field: ".hostKey",
        says: /host key verification is required.*`ssh-keyscan -p 2222 -t ed25519 10\.0\.0\.1`/,
      },
      {
        name: "hostKey without key",
        input: () => ({ ...valid, hostKey: "ssh-ed25519" }),
        field: ".hostKey",
        says: /expected "<type> <base64 key>"/,
      },
      {
        name: "hostKey of an unsupported type",
        input: () => ({ ...valid, hostKey: "ssh-dss AAAAB3NzaC1kc3M=" }),
        field: ".hostKey",
        says: /unsupported key type "ssh-dss"/,
      },
      {
        name: "hostKey type and body disagree",
        input: () => ({ ...valid, hostKey: sshd.hostKey.replace("ssh-ed25519", "ssh-rsa") }),
        field: ".hostKey",
        says: /not a ssh-rsa key/,
      },
      {
        name: "knownHosts lists another port only",
        input: () => ({ ...valid, port: 2222, hostKey: undefined, knownHosts: `10.0.0.1 ${sshd.hostKey}` }),
        field: ".knownHosts",
        says: /no usable key for \[10\.0\.0\.1\]:2222/,
      },
      {
        name: "knownHosts with a malformed line",
        input: () => ({ ...valid, hostKey: undefined, knownHosts: `10.0.0.1 ${sshd.hostKey}\n10.0.0.1 ssh-ed25519\n` }),
        field: ".knownHosts",
        says: /line 2/,
      },
      { name: "sudo as text", input: () => ({ ...valid, sudo: "yes" }), field: ".sudo", says: /true or false/ },
      {
        name: "dialTimeout 0",
        input: () => ({ ...valid, dialTimeout: 0 }),
        field: ".dialTimeout",
        says: /positive number of seconds/,
      },
      {
        name: "unsupported option",
        input: () => ({ ...valid, dialErrorLimit: 3 }),
        field: ".dialErrorLimit",
        says: /unknown connection setting; the connection settings are host, port, /,
      },
      {
        name: "a jump host with sudo",
        input: () => ({ ...valid, proxy: { ...valid, sudo: true } }),
        field: ".proxy.sudo",
        says: /unknown proxy setting/,
      },
      {
        name: "a jump host without host key verification",
        input: () => ({ ...valid, proxy: { host: "10.0.0.9", privateKey: valid.privateKey } }),
        field: ".proxy.hostKey",
        says: /host key verification is required/,
      },
      {
        name: "a relative agentSocketPath",
        input: () => ({ ...valid, privateKey: undefined, agentSocketPath: "agent.sock" }),
        field: ".agentSocketPath",
        says: /absolute path/,
      },
      {
        name: "both dialTimeout and perDialTimeout",
        input: () => ({ ...valid, dialTimeout: 5, perDialTimeout: 5 }),
        field: ".perDialTimeout",
        says: /give one of them/,
      },
    ];

    for (const { name, input, field: suffix, says } of cases) {
      it(`rejects ${name}, naming ${field}${suffix}`, function () {
        assert.throws(
          () => validateConnection(input(), field),
          (err: Error) => {
            assert.ok(err instanceof InvalidInputError, String(err));
            assert.equal(err.field, `${field}${suffix}`);
            assert.match(err.message, says);
            assert.ok(
              !err.message.includes("hunter2") && !err.message.includes("PRIVATE KEY-----\n"),
              "leaks a secret",
            );
            return true;
          },
        );
      });
    }
  });

  describe("shell commands", function () {
    it("quotes any text so sh reads it back unchanged", function () {
      for (const text of ["plain", "it's", "$(reboot)", "`id`", '"; rm -rf / #', "a\\b", "*", "", "tab\there", "é"]) {
        assert.equal(execFileSync("/bin/sh", ["-c", `printf %s ${shellQuote(text)}`], { encoding: "utf8" }), text);
      }
      assert.equal(shellQuote("it's"), `'it'\\''s'`);
    });

    it("wraps remote commands in timeout, and in sudo -n only when asked", function () {
      const script = 'cat -- "$1"';
      assert.equal(
        remoteCommand(script, ["/etc/etcd/it's.conf"], { sudo: false, timeoutMs: 60_000 }),
        `timeout -s KILL 60 sh -c 'cat -- "$1"' sh '/etc/etcd/it'\\''s.conf'`,
      );
      assert.equal(
        remoteCommand(script, ["/etc/etcd/etcd.conf"], { sudo: true, timeoutMs: 1500 }),
        `sudo -n timeout -s KILL 1.5 sh -c 'cat -- "$1"' sh '/etc/etcd/etcd.conf'`,
      );
    });
  });
});
