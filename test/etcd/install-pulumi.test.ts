import * as assert from "node:assert/strict";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { REPO_ROOT } from "../../lab/etcd-binary";

const SCRIPT = path.join(REPO_ROOT, "lab", "install-pulumi.sh");

/** Runs the installer with only `bin` and the system folders on PATH and an empty cache of its own. */
function install(bin: string, cache: string): { code: number | null; stdout: string; stderr: string } {
  const result = spawnSync("bash", [SCRIPT], {
    encoding: "utf8",
    env: { HOME: os.tmpdir(), PATH: `${bin}:/usr/bin:/bin`, PULUMI_ETCD_QUOTA_CACHE: cache },
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** A stand-in `pulumi` that reports `version`, with the language host and launcher beside it when `complete`. */
function fakeCli(dir: string, version: string, complete: boolean): void {
  fs.writeFileSync(path.join(dir, "pulumi"), `#!/bin/sh\n[ "$1" = version ] && echo v${version}\n`, { mode: 0o755 });
  if (complete) {
    for (const name of ["pulumi-language-nodejs", "pulumi-resource-pulumi-nodejs"]) {
      fs.writeFileSync(path.join(dir, name), "#!/bin/sh\n", { mode: 0o755 });
    }
  }
}

describe("lab/install-pulumi.sh", () => {
  let dir: string;
  let bin: string;
  let cache: string;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "install-pulumi-test-"));
    bin = path.join(dir, "bin");
    cache = path.join(dir, "cache");
    fs.mkdirSync(bin);
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("uses a supported pulumi on PATH with its language host and launcher, and prints its folder last", () => {
    fakeCli(bin, "3.250.0", true);
    const result = install(bin, cache);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout.trim().split("\n").pop(), bin);
    assert.match(result.stderr, /using pulumi 3\.250\.0 from .* \(the tests pin 3\.248\.0\)/);
    assert.equal(fs.existsSync(cache), false, "nothing was built");
  });

  it("with neither a supported pulumi nor Go, fails saying what to install", () => {
    const systemGo = spawnSync("sh", ["-c", "command -v go"], { env: { PATH: "/usr/bin:/bin" } });
    assert.notEqual(systemGo.status, 0, "this test needs a PATH without Go; here /usr/bin or /bin has one");
    fakeCli(bin, "3.100.0", true);
    const result = install(bin, cache);
    assert.equal(result.code, 1);
    assert.match(
      result.stderr,
      /ignoring .*\/pulumi: it reports '3\.100\.0', and the project supports 3\.x from 3\.216\.0/,
    );
    assert.match(
      result.stderr,
      /no pulumi 3\.216\.0\+ on PATH and no Go to build one: install the Pulumi CLI .* or Go >= 1\.25/,
    );
    assert.equal(result.stdout, "");
  });

  it("ignores a pulumi without its Node language host", () => {
    fakeCli(bin, "3.248.0", false);
    const result = install(bin, cache);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /ignoring .*: no pulumi-language-nodejs beside it or on PATH/);
  });
});
