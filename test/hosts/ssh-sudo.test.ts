import * as assert from "node:assert/strict";
import { execFileSync } from "child_process";
import { randomBytes } from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { HostError } from "../../provider/errors";
import type { Host } from "../../provider/hosts/host";
import { connectSsh } from "../../provider/hosts/ssh";
import type { TestSshd } from "../support/sshd";
import { startSshd } from "../support/sshd";

const SUDO = "/usr/bin/sudo";

/**
 * A real unprivileged user on this machine, with a real `sudo` rule (NOPASSWD, as the README asks), reached over the
 * test sshd without its sudo shim: the README's promise for a non-root `user` is proven against sudo itself.
 */
describe("a non-root SSH user with a real sudo -n", function () {
  this.timeout(60_000);
  const user = `peq${randomBytes(3).toString("hex")}`;
  const sudoers = `/etc/sudoers.d/${user}`;
  let sshd: TestSshd | undefined;
  let home: string | undefined;
  let rootOnly: string;

  before(async function () {
    assert.ok(fs.existsSync(SUDO), `${SUDO} is missing: install the sudo package (.ci/run does)`);
    home = fs.mkdtempSync(path.join(os.tmpdir(), "etcd-quota-user-"));
    execFileSync("useradd", ["--home-dir", home, "--no-create-home", "--shell", "/bin/sh", user]);
    // A locked account ("!" in shadow) may not log in even with a key; "*" has no password and is not locked.
    execFileSync("usermod", ["-p", "*", user]);
    fs.chownSync(home, Number(execFileSync("id", ["-u", user], { encoding: "utf8" })), 0);
    sshd = await startSshd(undefined, { realSudo: true });
    // sshd reads authorized_keys as the user logging in: let it through the folder (the keys there stay 0600).
    fs.chmodSync(sshd.dir, 0o711);
    fs.chmodSync(path.join(sshd.dir, "authorized_keys"), 0o644);
    rootOnly = path.join(sshd.dir, "etcd.env");
  });

  // Each test starts from root's 0600 file with its first value and the sudoers rule in place, whatever ran before.
  beforeEach(function () {
    fs.rmSync(rootOnly, { force: true });
    fs.writeFileSync(rootOnly, "ETCD_QUOTA_BACKEND_BYTES=1\n", { mode: 0o600 });
    fs.writeFileSync(sudoers, `${user} ALL=(root) NOPASSWD: ALL\n`, { mode: 0o440 });
  });

  after(async function () {
    await sshd?.stop();
    fs.rmSync(sudoers, { force: true });
    execFileSync("userdel", [user], { stdio: "ignore" });
    if (home) fs.rmSync(home, { recursive: true, force: true });
  });

  async function connect(): Promise<Host> {
    return connectSsh({
      host: "127.0.0.1",
      port: sshd!.port,
      user,
      privateKey: sshd!.privateKey,
      hostKey: sshd!.hostKey,
    });
  }

  it("logs in as the user, and reads, writes and runs as root through sudo, keeping the file root's", async function () {
    const host = await connect();
    try {
      assert.equal((await host.run("id -u", { timeoutMs: 10_000 })).stdout, "0\n", "commands run as root");
      assert.equal((await host.readFile(rootOnly)).text, "ETCD_QUOTA_BACKEND_BYTES=1\n", "a 0600 root file is read");
      const { backupPath } = await host.writeFileAtomic(rootOnly, "ETCD_QUOTA_BACKEND_BYTES=2\n");
      assert.equal(fs.readFileSync(rootOnly, "utf8"), "ETCD_QUOTA_BACKEND_BYTES=2\n");
      const stat = fs.statSync(rootOnly);
      assert.deepEqual({ uid: stat.uid, mode: stat.mode & 0o777 }, { uid: 0, mode: 0o600 }, "owner and mode kept");
      assert.equal(fs.readFileSync(backupPath, "utf8"), "ETCD_QUOTA_BACKEND_BYTES=1\n");
    } finally {
      await host.close();
    }
    // Without sudo the user could not have done any of it.
    assert.throws(() => execFileSync("su", ["-s", "/bin/sh", "-c", `cat ${rootOnly}`, user], { stdio: "pipe" }));
  });

  it("with only the sudoers line docs/permissions.md gives, reads, writes and runs as root", async function () {
    // The page's line, for its example user: every remote command line starts `sudo -n timeout`, so that is the rule.
    const page = fs.readFileSync(path.join(__dirname, "..", "..", "docs", "permissions.md"), "utf8");
    const documented = /^\s*deploy (ALL=\(root\) NOPASSWD: \S+)$/m.exec(page);
    assert.ok(documented, "docs/permissions.md gives a sudoers line for the user deploy");
    fs.writeFileSync(sudoers, `${user} ${documented[1]}\n`, { mode: 0o440 });
    const host = await connect();
    try {
      assert.equal((await host.run("id -u", { timeoutMs: 10_000 })).stdout, "0\n", "commands run as root");
      assert.equal((await host.readFile(rootOnly)).text, "ETCD_QUOTA_BACKEND_BYTES=1\n", "a 0600 root file is read");
      await host.writeFileAtomic(rootOnly, "ETCD_QUOTA_BACKEND_BYTES=2\n");
      assert.equal(fs.readFileSync(rootOnly, "utf8"), "ETCD_QUOTA_BACKEND_BYTES=2\n");
      assert.equal(fs.statSync(rootOnly).uid, 0, "the file stays root's");
    } finally {
      await host.close();
    }
  });

  it("without a sudoers rule, fails saying sudo wants a password, and writes nothing", async function () {
    fs.rmSync(sudoers);
    const host = await connect();
    try {
      await assert.rejects(host.readFile(rootOnly), (error: Error) => {
        assert.ok(error instanceof HostError, String(error));
        assert.match(
          error.message,
          /sudo: .*password is required; the login user needs passwordless sudo \(NOPASSWD\)/,
        );
        return true;
      });
      const before = fs.readFileSync(rootOnly, "utf8");
      await assert.rejects(host.writeFileAtomic(rootOnly, "ETCD_QUOTA_BACKEND_BYTES=3\n"), HostError);
      assert.equal(fs.readFileSync(rootOnly, "utf8"), before);
    } finally {
      await host.close();
      fs.writeFileSync(sudoers, `${user} ALL=(root) NOPASSWD: ALL\n`, { mode: 0o440 });
    }
  });
});
