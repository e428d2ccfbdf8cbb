import * as assert from "node:assert/strict";
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { EngineStack, PartialFailure, ProviderCallError, ProviderHost } from "../support/engine";
import { LabCluster } from "../../lab/cluster";
import { providerShim } from "../../sdk/shim";
import { withClient } from "../support/etcd";
import { sha256 } from "../support/files";
import { progressLines } from "../support/progress";
import { PATHOLOGICAL } from "../config/pathological";

/**
 * A corpus of bad inputs for both resources, each sent through the engine stand-in's preview (Check) against a real
 * 3-member cluster. Every case must fail with a message that starts with the path of the field at fault (and the
 * failure's property is that field's top-level input) and change no file in the case folder; every member's restart
 * command would leave a file there, so a case that reached a restart fails too. The few that only `up` can catch say
 * so, and are run through `up` instead. The provider host's peak memory is measured after the corpus.
 *
 * Decisions the corpus pins down:
 * - configFile: absolute; NUL and newline refused; otherwise taken literally (never through a shell unquoted), so
 *   "/x; rm -rf /" is just a file that does not exist. Symlinks are followed (the hosts layer edits the target): a
 *   link to a good file is fine, a dangling link or a loop is an error.
 * - restartCommand is shell by design (";", "&&", quotes are fine) but must be one non-blank line: no NUL, CR or LF.
 * - A file the provider cannot replace (read-only for its user, `chattr +i` for root, or in such a folder) fails the
 *   preview, before any member restarts; so does a file the editor can read but not edit, and a `format` the file's
 *   content contradicts.
 * - Numbers that JSON cannot carry (1e400) reach the provider as null, which is refused as not a size.
 *
 * HOSTILE_VERBOSE=1 prints every message, to read them as a user would.
 */

const MiB = 1024 ** 2;
const QUOTA = "pulumi-nodejs:dynamic/etcd-quota:EtcdQuota";
const COMPACTION = "pulumi-nodejs:dynamic/etcd-quota:EtcdCompaction";
const QUOTA_BYTES = 64 * MiB;

const CERT = [
  "-----BEGIN CERTIFICATE-----",
  "MIIBszCCAVmgAwIBAgIUTestTestTestTestTestTestTestTestwCgYIKoZIzj0EAwIw",
  "-----END CERTIFICATE-----",
].join("\n");
const KEY = [
  "-----BEGIN PRIVATE KEY-----",
  "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg",
  "-----END PRIVATE KEY-----",
].join("\n");

type Inputs = Record<string, unknown>;

interface Case {
  readonly name: string;
  readonly resource: "quota" | "compaction";
  readonly inputs: () => Inputs;
  /** The field path the reason must start with, e.g. `members[0].configFile`; its root is the failure's property. */
  readonly field: string;
  readonly reason: RegExp;
  /** Only `up` can catch it: the case is run through `up`, and must fail before anything changes. */
  readonly atUp?: boolean;
}

/**
 * Hashes every entry under `dir` without following links: a link is its target's text, a folder its listing, a FIFO
 * its mode, a large (sparse) file its size and time of change.
 */
function snapshot(dir: string): Map<string, string> {
  const result = new Map<string, string>();
  const walk = (at: string) => {
    for (const name of fs.readdirSync(at).sort()) {
      const full = path.join(at, name);
      const stat = fs.lstatSync(full);
      const mode = (stat.mode & 0o7777).toString(8);
      if (stat.isSymbolicLink()) result.set(full, `link ${fs.readlinkSync(full)}`);
      else if (stat.isFIFO()) result.set(full, `fifo ${mode}`);
      else if (stat.size > 1024 ** 2) result.set(full, `large file ${mode} ${stat.size} ${stat.mtimeMs}`);
      else if (stat.isDirectory()) {
        result.set(full, `dir ${mode}`);
        walk(full);
      } else result.set(full, `file ${mode} ${sha256(full)}`);
    }
  };
  walk(dir);
  return result;
}

const isRoot = process.getuid?.() === 0;

/**
 * Makes a file or folder unwritable for the provider's user: `chattr +i` as root (root ignores mode bits), else mode
 * bits. {@link makeWritable} undoes it so the folder can be removed.
 */
function makeReadOnly(target: string): void {
  if (isRoot) execFileSync("chattr", ["+i", target]);
  else fs.chmodSync(target, fs.statSync(target).isDirectory() ? 0o555 : 0o444);
}

function makeWritable(target: string): void {
  if (isRoot) execFileSync("chattr", ["-i", target]);
  else fs.chmodSync(target, fs.statSync(target).isDirectory() ? 0o755 : 0o644);
}

function unit(execStart: string, extra: string[] = []): string {
  return ["[Unit]", "Description=etcd", "", "[Service]", ...extra, `ExecStart=${execStart}`, "Restart=always", ""].join(
    "\n",
  );
}

function pod(containers: string): string {
  return ["apiVersion: v1", "kind: Pod", "metadata:", "  name: etcd", "spec:", "  containers:", containers, ""].join(
    "\n",
  );
}

describe("Hostile inputs: each refused naming its field, no file changed, no restart command run", function () {
  this.timeout(120_000);

  let host: ProviderHost;
  let cluster: LabCluster;
  /** Every file the cases point at lives here; it is hashed before and after each case. */
  let dir: string;
  const readOnly: string[] = [];

  /** `<dir>/<name>` with `text`; folders are created as needed. */
  function file(name: string, text: string): string {
    const full = path.join(dir, name);
    fs.mkdirSync(path.dirname(full), { recursive: true });
    fs.writeFileSync(full, text);
    return full;
  }
  const at = (name: string) => path.join(dir, name);
  const goodEnv = (i: number) => at(`good/m${i + 1}.env`);

  before(async () => {
    cluster = await LabCluster.start({ members: 3, quotaBytes: QUOTA_BYTES });
    host = await ProviderHost.start();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "etcd-hostile-"));
    for (let i = 0; i < 3; i++) file(`good/m${i + 1}.env`, `ETCD_QUOTA_BACKEND_BYTES=${QUOTA_BYTES}\n`);
    const env = (quota: string) => `# etcd\nETCD_NAME=m1\nETCD_QUOTA_BACKEND_BYTES=${quota}\n`;

    file("empty.conf", "");
    file("empty.service", "");
    file("broken.yml", "name: m1\nquota-backend-bytes: [1, 2\n");
    file("dup-key.yml", `name: m1\nquota-backend-bytes: ${QUOTA_BYTES}\nquota-backend-bytes: ${QUOTA_BYTES}\n`);
    file("flow.yml", "{name: m1, data-dir: /var/lib/etcd}\n");
    file("scalar.yml", "just a string\n");
    file("dup-flag.service", unit(`/usr/bin/etcd --name m1 --quota-backend-bytes=1 --quota-backend-bytes=2`));
    file(
      "flag-and-env.service",
      unit(`/usr/bin/etcd --quota-backend-bytes=${QUOTA_BYTES}`, [
        `Environment=ETCD_QUOTA_BACKEND_BYTES=${QUOTA_BYTES}`,
      ]),
    );
    file("two-execstart.service", `${unit("/usr/bin/etcd --name m1")}[Service]\nExecStart=/usr/bin/etcd --name m2\n`);
    file("sh-wrapper.service", unit(`/bin/sh -c "exec /usr/bin/etcd --quota-backend-bytes=${QUOTA_BYTES}"`));
    file("config-flag.service", unit("/usr/bin/etcd --config-file /etc/etcd/etcd.conf.yml"));
    file("trailing-comment.service", unit(`/usr/bin/etcd --quota-backend-bytes=${QUOTA_BYTES} # 64 MiB`));
    file("no-execstart.service", "[Unit]\nDescription=etcd\n[Service]\nRestart=always\n");
    file("dup.env", `${env(String(QUOTA_BYTES))}ETCD_QUOTA_BACKEND_BYTES=${QUOTA_BYTES}\n`);
    file("config-file.env", `ETCD_CONFIG_FILE=/etc/etcd/etcd.conf.yml\nETCD_QUOTA_BACKEND_BYTES=${QUOTA_BYTES}\n`);
    file("gigs.env", env("8GiB"));
    file("octal.env", env("010"));
    file("exponent.env", env("6.7e7"));
    file("huge.env", env("99999999999999999999"));
    file("fullwidth.env", env("６７１０８８６４"));
    file("empty-value.env", env(""));
    file(
      "no-etcd.yaml",
      pod(
        "  - name: kube-apiserver\n    image: registry.k8s.io/kube-apiserver:v1.30.0\n    command:\n    - kube-apiserver",
      ),
    );
    file(
      "two-etcd.yaml",
      pod(
        "  - name: etcd\n    command:\n    - etcd\n    - --name=a\n  - name: etcd\n    command:\n    - etcd\n    - --name=b",
      ),
    );
    file("flow-command.yaml", pod("  - name: etcd\n    command: [etcd, --name=m1, --data-dir=/var/lib/etcd]"));
    file(
      "value-from.yaml",
      pod(
        "  - name: etcd\n    command:\n    - etcd\n    env:\n    - name: ETCD_QUOTA_BACKEND_BYTES\n      valueFrom:\n        configMapKeyRef: {name: etcd, key: quota}",
      ),
    );
    file("deployment.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: etcd\n");
    file("etcd.service", unit(`/usr/bin/etcd --name m1 --quota-backend-bytes=${QUOTA_BYTES}`));
    file("etcd.conf.yml", `name: m1\ndata-dir: /var/lib/etcd\nquota-backend-bytes: ${QUOTA_BYTES}\n`);
    fs.mkdirSync(at("a-folder.env"));
    execFileSync("mkfifo", [at("fifo.env")]);
    // Sparse: no disk, but a provider that read it whole would hold 1.5 GiB (the memory test below would see it).
    fs.writeFileSync(at("sparse.env"), "");
    fs.truncateSync(at("sparse.env"), 1.5 * 1024 ** 3);
    file("passwd", "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n");
    fs.symlinkSync(at("passwd"), at("passwd.env"));
    const laughs = ["name: m1", 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
    for (const name of "bcdefghi") {
      laughs.push(
        `${name}: &${name} [${Array(9)
          .fill(`*${String.fromCharCode(name.charCodeAt(0) - 1)}`)
          .join(",")}]`,
      );
    }
    file("laughs.yml", `${laughs.join("\n")}\n`);
    for (const input of PATHOLOGICAL) file(`pathological/${input.file}`, input.text);
    file("other-program.yml", "server:\n  port: 8080\nlogging: debug\n");
    file("spare/m1.env", `ETCD_QUOTA_BACKEND_BYTES=${QUOTA_BYTES}\n`);
    fs.symlinkSync(goodEnv(0), at("link-good.env"));
    fs.symlinkSync(at("nowhere/etcd.env"), at("link-dangling.env"));
    fs.symlinkSync(at("link-loop.env"), at("link-loop.env"));
    // Hostile names that are nonetheless real, valid files: they must work, and nothing in them may run.
    file("it's $(touch PWNED) `touch PWNED` ; étcd ☃.env", `ETCD_QUOTA_BACKEND_BYTES=${QUOTA_BYTES}\n`);
    file("crlf.env", `# written on Windows\r\nETCD_QUOTA_BACKEND_BYTES=${QUOTA_BYTES}\r\n`);
    file(
      "unicode.service",
      `# Ünïcödé コメント ☃\n${unit(`/usr/bin/etcd --name=m1 --quota-backend-bytes=${QUOTA_BYTES}`, ["Description=étcd ☃"])}`,
    );
    // Unwritable: a file, and a good file in a folder that cannot be written.
    readOnly.push(file("read-only.env", `ETCD_QUOTA_BACKEND_BYTES=${QUOTA_BYTES}\n`));
    file("locked-folder/etcd.env", `ETCD_QUOTA_BACKEND_BYTES=${QUOTA_BYTES}\n`);
    readOnly.push(at("locked-folder"));
    for (const target of readOnly) makeReadOnly(target);
  });

  after(async () => {
    for (const target of readOnly) makeWritable(target);
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
    await host?.stop();
    await cluster?.stop();
  });

  const members = (first: Inputs = {}) =>
    cluster.members.map((m, i) => ({
      endpoint: m.clientUrl,
      configFile: goodEnv(i),
      // Leaves a file in the case folder if it ever runs: a refused case must run nothing.
      restartCommand: `touch ${at("RESTARTED")}`,
      ...(i === 0 ? first : {}),
    }));
  /** EtcdQuota raising 64 MiB to 96 MiB: every member's file would be written, so every file is looked at. */
  const quota = (first: Inputs = {}, extra: Inputs = {}): Inputs => ({
    quota: "96MiB",
    members: members(first),
    restartTimeout: "20s",
    ...extra,
  });
  const withFile = (configFile: string, extra: Inputs = {}) => quota({ configFile, ...extra });
  const compaction = (extra: Inputs = {}): Inputs => ({ endpoints: cluster.endpoints, ...extra });
  const url = (i: number) => cluster.members[i].clientUrl;
  const port = (i: number) => new URL(url(i)).port;

  const q = (
    name: string,
    inputs: () => Inputs,
    field: string,
    reason: RegExp,
    options: { atUp?: boolean } = {},
  ): Case => ({ name, resource: "quota", inputs, field, reason, ...options });
  const c = (
    name: string,
    inputs: () => Inputs,
    field: string,
    reason: RegExp,
    options: { atUp?: boolean } = {},
  ): Case => ({ name, resource: "compaction", inputs, field, reason, ...options });

  const cases: Case[] = [
    // ---- EtcdQuota: sizes
    q("negative quota", () => quota({}, { quota: -1 }), "quota", /-1 is not a whole, non-negative number of bytes/),
    q("fractional bytes", () => quota({}, { quota: 1.5 }), "quota", /1\.5 is not a whole/),
    q("half a byte as text", () => quota({}, { quota: "0.5" }), "quota", /is not a whole number of bytes/),
    q('"8 gigs"', () => quota({}, { quota: "8 gigs" }), "quota", /unknown unit "gigs"/),
    q("1e400 (JSON carries it as null)", () => quota({}, { quota: Number("1e400") }), "quota", /got null/),
    q('"1e400" as text', () => quota({}, { quota: "1e400" }), "quota", /"1e400" is not a size/),
    q("beyond 2^53", () => quota({}, { quota: "99999999999999999999" }), "quota", /is too large/),
    q("an unsafe integer", () => quota({}, { quota: 2 ** 53 + 2 }), "quota", /is not a whole, non-negative/),
    q("16 TiB", () => quota({}, { quota: "16TiB" }), "quota", /above the 8 GiB etcd suggests/),
    q("zero", () => quota({}, { quota: 0 }), "quota", /must be above zero/),
    q('"-64MiB"', () => quota({}, { quota: "-64MiB" }), "quota", /is not a size/),
    q("hexadecimal", () => quota({}, { quota: "0x4000000" }), "quota", /is not a size/),
    q("fullwidth digits", () => quota({}, { quota: "６４MiB" }), "quota", /is not a size/),
    q("a boolean", () => quota({}, { quota: true }), "quota", /got boolean true/),
    q("missing", () => ({ members: members() }), "quota", /is required/),
    q("below the DB size", () => quota({}, { quota: "1KiB" }), "quota", /is not above m\d's DB of .*NOSPACE/),

    // ---- EtcdQuota: endpoints
    q("endpoint without scheme", () => quota({ endpoint: `127.0.0.1:${port(0)}` }), "members[0].endpoint", /http/),
    q("endpoint with a path", () => quota({ endpoint: `${url(0)}/v3` }), "members[0].endpoint", /path or query/),
    q("endpoint with a query", () => quota({ endpoint: `${url(0)}?x=1` }), "members[0].endpoint", /path or query/),
    q(
      "endpoint with credentials",
      () => quota({ endpoint: `http://root:secret@127.0.0.1:${port(0)}` }),
      "members[0].endpoint",
      /carries credentials/,
    ),
    q("empty endpoint", () => quota({ endpoint: "" }), "members[0].endpoint", /expected a client URL/),
    q("endpoint without port", () => quota({ endpoint: "http://127.0.0.1" }), "members[0].endpoint", /no port/),
    q("ftp endpoint", () => quota({ endpoint: `ftp://127.0.0.1:${port(0)}` }), "members[0].endpoint", /http:\/\//),
    q(
      "endpoint with shell after the port",
      () => quota({ endpoint: `${url(0)};rm -rf /` }),
      "members[0].endpoint",
      /is not a URL/,
    ),
    q(
      "duplicate endpoint (spelled differently)",
      () => ({ ...quota(), members: [...members(), { ...members()[0], endpoint: `HTTP://127.0.0.1:${port(0)}/` }] }),
      "members[3].endpoint",
      /is listed twice/,
    ),
    // An IDN host is a valid URL (it becomes punycode); this one resolves nowhere, so the member does not answer.
    q("unicode host", () => quota({ endpoint: "http://étcd.invalid:2379" }), "members", /xn--tcd-.*did not answer/),
    q("a member left out", () => ({ ...quota(), members: members().slice(1) }), "members", /m1 .* not in members/),
    q("no members", () => quota({}, { members: [] }), "members", /non-empty list/),
    q("members not a list", () => quota({}, { members: url(0) }), "members", /non-empty list/),
    q("a member that is null", () => quota({}, { members: [null] }), "members[0]", /expected \{ endpoint/),
    q(
      "unknown member key",
      () => quota({ restart_command: "x" }),
      "members[0].restart_command",
      /unknown member setting; did you mean restartCommand\?$/,
    ),

    // ---- EtcdQuota: formats
    q("unknown format", () => quota({ format: "systemd" }), "members[0].format", /expected one of "systemd-unit"/),
    q("format in capitals", () => quota({ format: "ENV-FILE" }), "members[0].format", /expected one of/),
    q("format with shell", () => quota({ format: "env-file; rm -rf /" }), "members[0].format", /expected one of/),
    q(
      "format the file contradicts (env-file for a unit)",
      () => withFile(at("etcd.service"), { format: "env-file" }),
      "members[0].format",
      /is "env-file", but .*etcd\.service is a unit with \[Service\]/,
    ),
    q(
      "format the file contradicts (kubeadm-manifest for an etcd config)",
      () => withFile(at("etcd.conf.yml"), { format: "kubeadm-manifest" }),
      "members[0].format",
      /"etcd-config"/,
    ),

    // ---- EtcdQuota: config files
    q("missing file", () => withFile(at("nope/etcd.env")), "members[0].configFile", /no such file or directory/),
    q("empty file, name says nothing", () => withFile(at("empty.conf")), "members[0].configFile", /cannot tell/),
    q(
      "empty unit",
      () => withFile(at("empty.service"), { format: "systemd-unit" }),
      "members[0].configFile",
      /has no ExecStart=/,
    ),
    q("YAML that does not parse", () => withFile(at("broken.yml")), "members[0].configFile", /not valid YAML/),
    q("YAML key twice", () => withFile(at("dup-key.yml"), { format: "etcd-config" }), "members[0].configFile", /YAML/),
    q(
      "YAML that is not a mapping",
      () => withFile(at("scalar.yml"), { format: "etcd-config" }),
      "members[0].configFile",
      /top level is not a mapping/,
    ),
    q(
      "flow mapping the key cannot be added to",
      () => withFile(at("flow.yml")),
      "members[0].configFile",
      /flow mapping/,
    ),
    q("quota flag twice", () => withFile(at("dup-flag.service")), "members[0].configFile", /is set 2 times/),
    // Files that made a parser's work grow faster than their size (minutes to hours in 0.2.0); see config/pathological.
    ...PATHOLOGICAL.flatMap((input) =>
      "refused" in input.outcome
        ? [
            q(
              input.name,
              () => withFile(at(`pathological/${input.file}`), { format: input.format }),
              "members[0].configFile",
              input.outcome.refused,
            ),
          ]
        : [],
    ),
    q(
      "quota as flag and variable",
      () => withFile(at("flag-and-env.service")),
      "members[0].configFile",
      /both as a flag .* and as ETCD_QUOTA_BACKEND_BYTES/,
    ),
    q("two ExecStart lines", () => withFile(at("two-execstart.service")), "members[0].configFile", /2 ExecStart=/),
    q("ExecStart through sh", () => withFile(at("sh-wrapper.service")), "members[0].configFile", /not etcd/),
    q("--config-file in the unit", () => withFile(at("config-flag.service")), "members[0].configFile", /--config-file/),
    q(
      "comment after ExecStart",
      () => withFile(at("trailing-comment.service")),
      "members[0].configFile",
      /passes "#" .* as an argument/,
    ),
    q("unit without ExecStart", () => withFile(at("no-execstart.service")), "members[0].configFile", /no ExecStart=/),
    q("env variable twice", () => withFile(at("dup.env")), "members[0].configFile", /is set 2 times/),
    q("ETCD_CONFIG_FILE in the env file", () => withFile(at("config-file.env")), "members[0].configFile", /ignore/),
    q("unit in an env file value", () => withFile(at("gigs.env")), "members[0].configFile", /"8GiB", which is not/),
    q("octal quota in the file", () => withFile(at("octal.env")), "members[0].configFile", /"010", which is not/),
    q("exponent in the file", () => withFile(at("exponent.env")), "members[0].configFile", /"6\.7e7", which is not/),
    q("quota too large in the file", () => withFile(at("huge.env")), "members[0].configFile", /too large/),
    q("fullwidth digits in the file", () => withFile(at("fullwidth.env")), "members[0].configFile", /６７/),
    q("empty value in the file", () => withFile(at("empty-value.env")), "members[0].configFile", /has no value/),
    q(
      "manifest without an etcd container",
      () => withFile(at("no-etcd.yaml"), { format: "kubeadm-manifest" }),
      "members[0].configFile",
      /has no container named "etcd" \(containers: "kube-apiserver"\)/,
    ),
    q(
      "manifest with two etcd containers",
      () => withFile(at("two-etcd.yaml"), { format: "kubeadm-manifest" }),
      "members[0].configFile",
      /has 2 containers named "etcd"/,
    ),
    q(
      "manifest whose command is one flow list",
      () => withFile(at("flow-command.yaml"), { format: "kubeadm-manifest" }),
      "members[0].configFile",
      /not written one "- item" per line/,
    ),
    q(
      "manifest quota from valueFrom",
      () => withFile(at("value-from.yaml"), { format: "kubeadm-manifest" }),
      "members[0].configFile",
      /valueFrom/,
    ),
    q(
      "a Deployment, not a Pod",
      () => withFile(at("deployment.yaml"), { format: "kubeadm-manifest" }),
      "members[0].configFile",
      /not a static Pod manifest \(kind: Deployment\)/,
    ),
    q("a folder", () => withFile(at("a-folder.env")), "members[0].configFile", /it is a directory/),
    q("dangling symlink", () => withFile(at("link-dangling.env")), "members[0].configFile", /no such file/),
    q("symlink loop", () => withFile(at("link-loop.env")), "members[0].configFile", /link-loop\.env/),
    q(
      "read-only file",
      () => withFile(at("read-only.env")),
      "members[0].configFile",
      /read-only\.env on local cannot be edited: the file is not writable/,
    ),
    q(
      "file in a folder that cannot be written",
      () => withFile(at("locked-folder/etcd.env")),
      "members[0].configFile",
      /cannot be edited: its folder is not writable/,
    ),
    q("relative path", () => withFile("etc/etcd.env"), "members[0].configFile", /must be absolute/),
    q("relative path with shell", () => withFile("$(touch PWNED)"), "members[0].configFile", /must be absolute/),
    q(
      "path with shell after it",
      () => withFile(`${at("good/m1.env")}; touch ${at("PWNED")}`),
      "members[0].configFile",
      /no such file/,
    ),
    q("path with a newline", () => withFile(`${at("good/m1.env")}\n/etc/passwd`), "members[0].configFile", /newline/),
    q("path with a NUL", () => withFile(`${at("good/m1.env")}\0.bak`), "members[0].configFile", /NUL/),
    q("path that is not a string", () => withFile(42 as unknown as string), "members[0].configFile", /got number 42/),

    q(
      "a FIFO (it would block the read)",
      () => withFile(at("fifo.env")),
      "members[0].configFile",
      /it is a named pipe \(FIFO\); only regular files are read/,
    ),
    q("/dev/zero (it never ends)", () => withFile("/dev/zero"), "members[0].configFile", /only regular files/),
    q("/dev/stdin", () => withFile("/dev/stdin"), "members[0].configFile", /only regular files|no such file/),
    q(
      "a sparse 1.5 GiB file",
      () => withFile(at("sparse.env")),
      "members[0].configFile",
      /it is 1\.50 GiB, more than the 1 MiB a config file of etcd can need; it was not read/,
    ),
    q(
      "an env file linked to a passwd file",
      () => withFile(at("passwd.env"), { format: "env-file" }),
      "members[0].configFile",
      /names no ETCD_ variable, not even in a comment, so it is not etcd's environment file/,
    ),
    q(
      "YAML whose aliases expand without bound",
      () => withFile(at("laughs.yml"), { format: "etcd-config" }),
      "members[0].configFile",
      /its YAML aliases expand too much/,
    ),
    q(
      "YAML with none of etcd's settings",
      () => withFile(at("other-program.yml"), { format: "etcd-config" }),
      "members[0].configFile",
      /has none of etcd's settings/,
    ),
    q(
      "the same member twice (localhost and 127.0.0.1)",
      () => ({
        ...quota(),
        members: [...members(), { endpoint: `http://localhost:${port(0)}`, configFile: at("spare/m1.env") }],
      }),
      "members[3].endpoint",
      /is member m1 \(ID [0-9a-f]+\) again, already listed as members\[0\]/,
    ),
    q(
      "the same file for two members (through ..)",
      () => ({
        ...quota(),
        members: members().map((m, i) => (i === 1 ? { ...m, configFile: at("good/../good/m1.env") } : m)),
      }),
      "members[1].configFile",
      /good\/m1\.env, the file members\[0\] already names; each member needs its own file/,
    ),
    q(
      "17 members",
      () =>
        quota(
          {},
          { members: Array.from({ length: 17 }, (_, i) => ({ ...members()[0], endpoint: `http://10.0.0.${i}:2379` })) },
        ),
      "members",
      /lists 17 members; an etcd cluster has at most 16 here/,
    ),

    // ---- EtcdQuota: restart commands, timeouts, TLS, credentials, connections
    q(
      "restart command with a newline",
      () => quota({ restartCommand: "systemctl restart etcd\nrm -rf /" }),
      "members[0].restartCommand",
      /one line of shell/,
    ),
    q(
      "restart command with CR",
      () => quota({ restartCommand: "systemctl restart etcd\rtouch PWNED" }),
      "members[0].restartCommand",
      /one line/,
    ),
    q("restart command with NUL", () => quota({ restartCommand: "true\0" }), "members[0].restartCommand", /one line/),
    q("blank restart command", () => quota({ restartCommand: "   " }), "members[0].restartCommand", /is blank/),
    q(
      "restart command not a string",
      () => quota({ restartCommand: ["systemctl"] }),
      "members[0].restartCommand",
      /expected one line of shell/,
    ),
    q("restartTimeout in years", () => quota({}, { restartTimeout: "1y" }), "restartTimeout", /expected a duration/),
    q("negative restartTimeout", () => quota({}, { restartTimeout: -5 }), "restartTimeout", /positive duration/),
    q("zero lockTimeout", () => quota({}, { lockTimeout: "0s" }), "lockTimeout", /positive duration/),
    q(
      "allowAboveRecommended as text",
      () => quota({}, { allowAboveRecommended: "yes" }),
      "allowAboveRecommended",
      /true or false/,
    ),
    q("disarmNoSpace as text", () => quota({}, { disarmNoSpace: "false" }), "disarmNoSpace", /true or false/),
    q("keepBackups 0", () => quota({}, { keepBackups: 0 }), "keepBackups", /1 to 100, got number 0$/),
    q("keepBackups as text", () => quota({}, { keepBackups: "5" }), "keepBackups", /1 to 100, got "5"$/),
    q("keepBackups a fraction", () => quota({}, { keepBackups: 2.5 }), "keepBackups", /1 to 100, got number 2\.5$/),
    q("tls that is a path", () => quota({}, { tls: { ca: "/etc/etcd/ca.pem" } }), "tls.ca", /expected PEM text/),
    q("tls ca that is a key", () => quota({}, { tls: { ca: KEY } }), "tls.ca", /expected a certificate/),
    q("tls cert without key", () => quota({}, { tls: { cert: CERT } }), "tls", /go together/),
    q(
      "tls with an unknown key",
      () => quota({}, { tls: { ca: CERT, insecure: true } }),
      "tls.insecure",
      /unknown TLS setting; the TLS settings are ca, cert, key$/,
    ),
    q(
      "tls with http:// members",
      () => quota({}, { tls: { ca: CERT } }),
      "members[0].endpoint",
      /tls is set but some endpoints use http:\/\//,
    ),
    q("username without password", () => quota({}, { username: "root" }), "password", /go together/),
    q("empty username", () => quota({}, { username: "", password: "x" }), "username", /non-empty/),
    q(
      "connection host with shell",
      () => quota({ connection: { host: "10.0.0.1; rm -rf /", hostKey: "ssh-ed25519 AAAA" } }),
      "members[0].connection.host",
      /is not a host name or IP address \(no spaces, brackets or shell characters\)/,
    ),
    q(
      "connection user with shell",
      () => quota({ connection: { host: "10.0.0.1", user: "root$(id)", hostKey: "ssh-ed25519 AAAA" } }),
      "members[0].connection.user",
      /must be a user name such as "root" or "ubuntu", got "root\$\(id\)"/,
    ),

    // ---- EtcdQuota: only `up` can tell. A restart command is shell: whether it restarts etcd shows only by running
    // it, after the file is written. The file is restored (its backup stays, by design), nothing is restarted.
    q(
      "restart command that fails",
      () => quota({}, { members: members().map((m) => ({ ...m, restartCommand: "echo no such unit >&2; exit 3" })) }),
      "members",
      /restart command .* exited with 3: no such unit/,
      { atUp: true },
    ),

    // ---- EtcdCompaction
    c("no endpoints", () => compaction({ endpoints: [] }), "endpoints", /non-empty list/),
    c("endpoints as text", () => compaction({ endpoints: url(0) }), "endpoints", /non-empty list/),
    c("endpoint without scheme", () => compaction({ endpoints: [`127.0.0.1:${port(0)}`] }), "endpoints[0]", /http/),
    c("endpoint with a path", () => compaction({ endpoints: [`${url(0)}/v3/kv`] }), "endpoints[0]", /path or query/),
    c(
      "endpoint with credentials",
      () => compaction({ endpoints: [`http://u:p@127.0.0.1:${port(0)}`] }),
      "endpoints[0]",
      /credentials/,
    ),
    c("empty endpoint", () => compaction({ endpoints: [""] }), "endpoints[0]", /expected a client URL/),
    c(
      "duplicate endpoints",
      () => compaction({ endpoints: [url(0), url(1), `${url(0)}/`] }),
      "endpoints[2]",
      /listed twice/,
    ),
    c("endpoint with a fragment", () => compaction({ endpoints: [`${url(0)}#x`] }), "endpoints[0]", /path or query/),
    // ---- Misspelled inputs: ignored, each would leave its default in force (retainRevisions 0 keeps no history).
    c(
      "retainRevison",
      () => compaction({ retainRevison: 1000 }),
      "retainRevison",
      /unknown input; did you mean retainRevisions\?$/,
    ),
    c("moveLeadr", () => compaction({ moveLeadr: false }), "moveLeadr", /unknown input; did you mean moveLeader\?$/),
    c(
      "defrag.minFreeByte",
      () => compaction({ defrag: { minFreeByte: "1GiB" } }),
      "defrag.minFreeByte",
      /did you mean minFreeBytes\?$/,
    ),
    c(
      "tls.cacert",
      () => compaction({ tls: { cacert: CERT } }),
      "tls.cacert",
      /unknown TLS setting; the TLS settings are ca, cert, key$/,
    ),
    q(
      "restartTimout",
      () => quota({}, { restartTimout: "5m" }),
      "restartTimout",
      /unknown input; did you mean restartTimeout\?$/,
    ),
    q(
      "allowAboveRecomended",
      () => quota({}, { allowAboveRecomended: true }),
      "allowAboveRecomended",
      /did you mean allowAboveRecommended\?$/,
    ),
    q(
      "an input far from every name",
      () => quota({}, { compactFirst: true }),
      "compactFirst",
      /unknown input; the inputs are quota, tls, /,
    ),
    q(
      "connection.privatekey",
      () => quota({ connection: { host: "10.0.0.1", privatekey: KEY, hostKey: "ssh-ed25519 AAAA" } }),
      "members[0].connection.privatekey",
      /unknown connection setting; did you mean privateKey\?$/,
    ),
    c("negative retainRevisions", () => compaction({ retainRevisions: -1 }), "retainRevisions", /0 or more/),
    c("fractional retainRevisions", () => compaction({ retainRevisions: 2.5 }), "retainRevisions", /got number 2\.5/),
    c("retainRevisions 1e400", () => compaction({ retainRevisions: Number("1e400") }), "retainRevisions", /got null/),
    c("retainRevisions as text", () => compaction({ retainRevisions: "5" }), "retainRevisions", /got "5"/),
    c(
      "defrag threshold in gigs",
      () => compaction({ defrag: { minFreeBytes: "8 gigs" } }),
      "defrag.minFreeBytes",
      /unknown unit/,
    ),
    c("negative defrag threshold", () => compaction({ defrag: { minFreeBytes: -1 } }), "defrag.minFreeBytes", /-1/),
    c(
      "fragmentation 150%",
      () => compaction({ defrag: { minFragmentation: 1.5 } }),
      "defrag.minFragmentation",
      /0 and 1/,
    ),
    c("empty defrag", () => compaction({ defrag: {} }), "defrag", /give minFreeBytes, minFragmentation or both/),
    c("defrag: true", () => compaction({ defrag: true }), "defrag", /expected an object/),
    c(
      "unknown defrag key",
      () => compaction({ defrag: { maxFree: 1 } }),
      "defrag.maxFree",
      /unknown defrag setting; the defrag settings are minFreeBytes, minFragmentation$/,
    ),
    c(
      "quotaUsageAbove as percent",
      () => compaction({ when: { quotaUsageAbove: 80 } }),
      "when.quotaUsageAbove",
      /0 and 1/,
    ),
    c(
      "freeBytesAbove unparsable",
      () => compaction({ when: { freeBytesAbove: "lots" } }),
      "when.freeBytesAbove",
      /not a size/,
    ),
    c(
      "noSpaceAlarm as text",
      () => compaction({ when: { noSpaceAlarm: "yes" } }),
      "when.noSpaceAlarm",
      /true or false/,
    ),
    c("moveLeader as text", () => compaction({ moveLeader: "no" }), "moveLeader", /true or false/),
    c("negative lockTimeout", () => compaction({ lockTimeout: "-1s" }), "lockTimeout", /expected a duration/),
    c("triggers not a list", () => compaction({ triggers: "again" }), "triggers", /expected a list/),
    c("tls that is not PEM", () => compaction({ tls: { ca: "not pem" } }), "tls.ca", /text that is not PEM/),
    c("tls over http://", () => compaction({ tls: { ca: CERT } }), "endpoints", /use https:\/\//),
    c("password without username", () => compaction({ password: "x" }), "username", /go together/),

    c(
      "an endpoint that is not etcd (its metrics port)",
      () => compaction({ endpoints: [cluster.members[0].metricsUrl, url(1), url(2)] }),
      "endpoints[0]",
      /: status: what answers here is not etcd's client API/,
    ),
    c(
      "17 endpoints",
      () => compaction({ endpoints: Array.from({ length: 17 }, (_, i) => `http://10.0.0.${i}:2379`) }),
      "endpoints",
      /lists 17 members/,
    ),
    // ---- EtcdCompaction: only `up` can tell (check reads the cluster for the access settings only): refused first
    // thing, before any change.
    c(
      "endpoints that leave members out",
      () => compaction({ endpoints: [url(0)] }),
      "endpoints",
      /member m\d .* is in the cluster but not in endpoints/,
      { atUp: true },
    ),
  ];

  /** Hostile but valid: must pass the preview, with nothing run from the names. */
  const accepted: { name: string; resource: "quota" | "compaction"; inputs: () => Inputs }[] = [
    { name: "the baseline", resource: "quota", inputs: () => quota() },
    { name: "a symlink to a good file (followed)", resource: "quota", inputs: () => withFile(at("link-good.env")) },
    {
      name: "a file named with quotes, $(...), backticks, ; and unicode",
      resource: "quota",
      inputs: () => withFile(at("it's $(touch PWNED) `touch PWNED` ; étcd ☃.env")),
    },
    { name: "CRLF line endings", resource: "quota", inputs: () => withFile(at("crlf.env")) },
    ...PATHOLOGICAL.filter((input) => !("refused" in input.outcome)).map((input) => ({
      name: input.name,
      resource: "quota" as const,
      inputs: () => withFile(at(`pathological/${input.file}`), { format: input.format }),
    })),
    { name: "a unit with unicode comments", resource: "quota", inputs: () => withFile(at("unicode.service")) },
    {
      name: "a restart command with ;, && and quotes (shell by design)",
      resource: "quota",
      inputs: () => quota({ restartCommand: `systemctl daemon-reload && systemctl restart 'etcd' ; echo "done"` }),
    },
    {
      name: "an endpoint with a trailing slash",
      resource: "compaction",
      inputs: () => compaction({ endpoints: [...cluster.endpoints.slice(1), `${url(0)}/`] }),
    },
  ];

  const stackFor = (resource: "quota" | "compaction") =>
    new EngineStack(host, { provider: providerShim(resource), type: resource === "quota" ? QUOTA : COMPACTION });

  for (const hostile of cases) {
    const where = hostile.atUp ? "at up" : "at check";
    it(`${hostile.resource}: ${hostile.name} -> ${hostile.field} (${where})`, async () => {
      const before = snapshot(dir);
      const stack = stackFor(hostile.resource);
      if (!hostile.atUp) {
        const preview = await stack.preview("hostile", hostile.inputs());
        assert.equal(preview.op, "failed", `${hostile.name}: the preview passed`);
        const failure = preview.failures[0];
        assert.equal(failure.property, "", "the CLI would print the whole value of a named property");
        assert.ok(
          failure.reason.startsWith(`${hostile.field}: `),
          `the reason starts with ${hostile.field}: ${failure.reason}`,
        );
        assert.match(failure.reason, hostile.reason);
        if (process.env.HOSTILE_VERBOSE) console.log(`        check | ${failure.reason}`);
      } else {
        // The preview passes: this is exactly what check cannot see.
        assert.deepEqual((await stack.preview("hostile", hostile.inputs())).failures, []);
        // A revision any compaction would make unreadable.
        const old = await withClient(cluster.endpoints, async (client) => {
          const revision = Number((await client.put("hostile/old").value("v1").exec()).header.revision);
          await client.put("hostile/old").value("v2").exec();
          return revision;
        });
        const error = await stack.up("hostile", hostile.inputs()).then(
          () => assert.fail(`${hostile.name}: up succeeded`),
          (e: unknown) => e as Error,
        );
        assert.ok(error instanceof ProviderCallError || error instanceof PartialFailure, String(error));
        assert.match(error.message, hostile.reason);
        if (process.env.HOSTILE_VERBOSE) console.log(`        up | ${error.message}`);
        if (hostile.resource === "compaction") {
          assert.ok(error instanceof ProviderCallError, "refused before anything was done");
          assert.match(error.message, /^refusing to start maintenance: /);
          assert.equal(stack.state("hostile"), undefined);
          const then = await withClient(cluster.endpoints, (client) =>
            client.get("hostile/old").revision(old).string(),
          );
          assert.equal(then, "v1", "nothing was compacted");
        }
      }
      if (hostile.atUp && hostile.resource === "quota") {
        // The one file written was restored byte for byte; only its backup is new.
        const after = snapshot(dir);
        const added = [...after.keys()].filter((k) => !before.has(k));
        assert.deepEqual(
          [...before].filter(([k, v]) => after.get(k) !== v),
          [],
          "every file is as it was",
        );
        assert.ok(added.length === 1 && /good\/m\d\.env\.bak-/.test(added[0]), `only a backup was added: ${added}`);
        fs.rmSync(added[0]);
      } else {
        assert.deepEqual(snapshot(dir), before, "no file in the case folder changed");
      }
      assert.ok(!fs.existsSync(at("PWNED")) && !fs.existsSync(path.join(process.cwd(), "PWNED")), "nothing ran");
    });
  }

  it("quota: the preview's plan names the file a symlinked configFile leads to, the one an update would edit", async () => {
    const logStart = host.logs.length;
    const preview = await stackFor("quota").preview("link", withFile(at("link-good.env")));
    assert.deepEqual(preview.failures, []);
    const plan = progressLines(host.logs.slice(logStart), "EtcdQuota").filter((line) =>
      line.startsWith("EtcdQuota: plan: "),
    );
    const target = fs.realpathSync(goodEnv(0));
    assert.ok(
      plan.some((line) => line.includes(`write ${at("link-good.env")} (a link to ${target})`)),
      plan.join("\n"),
    );
  });

  for (const valid of accepted) {
    it(`${valid.resource}: accepts ${valid.name}`, async () => {
      const before = snapshot(dir);
      const preview = await stackFor(valid.resource).preview("valid", valid.inputs());
      assert.deepEqual(preview.failures, []);
      assert.equal(preview.op, "create");
      assert.deepEqual(snapshot(dir), before);
      assert.ok(!fs.existsSync(at("PWNED")) && !fs.existsSync(path.join(process.cwd(), "PWNED")), "nothing ran");
    });
  }

  /** The cases that would cost the provider the most memory if it read or expanded what they point at. */
  const HEAVY = [
    "a sparse 1.5 GiB file",
    "/dev/zero (it never ends)",
    "a FIFO (it would block the read)",
    "YAML whose aliases expand without bound",
  ];

  // 176 MiB after the corpus of 0.2.0; 544 MiB since it holds the pathological files: a 1 MiB kubeadm manifest of
  // 30,000 env entries becomes a document model of that many nodes in the yaml library. Bounded all the same.
  it("keeps the provider host's memory bounded whatever the input: peak resident set under 768 MiB", async () => {
    // The test sends the heaviest inputs itself, so the peak it reads is theirs whether or not the corpus ran first.
    const heavy = cases.filter((hostile) => HEAVY.includes(hostile.name));
    assert.deepEqual(
      heavy.map((hostile) => hostile.name).sort(),
      [...HEAVY].sort(),
      "every heavy case is in the corpus",
    );
    for (const hostile of heavy) {
      const preview = await stackFor(hostile.resource).preview("heavy", hostile.inputs());
      assert.equal(preview.op, "failed", `${hostile.name}: the preview passed`);
      assert.match(preview.failures[0].reason, hostile.reason);
    }
    const status = fs.readFileSync(`/proc/${host.pid}/status`, "utf8");
    const peakKiB = Number(/^VmHWM:\s+(\d+) kB$/m.exec(status)![1]);
    console.log(`      provider host peak RSS: ${(peakKiB / 1024).toFixed(0)} MiB`);
    assert.ok(peakKiB < 768 * 1024, `peak ${peakKiB} KiB`);
  });
});
