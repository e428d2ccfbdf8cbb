import * as assert from "node:assert/strict";
import { randomBytes } from "crypto";
import { PulumiProject } from "../../lab/pulumi-cli";
import type { LabTls } from "../../lab/tls";
import { makeLabTls } from "../../lab/tls";

// The resource declared from plain (not secret) stack config: a program that forgot `--secret` leaves the provider's
// messages as the only thing between a secret and the CLI's output. The engine stops a preview at the first failed
// check, so each wrong secret gets a preview of its own.
const PROGRAM = `
import * as pulumi from "@pulumi/pulumi";
import { EtcdCompaction, EtcdCompactionArgs, EtcdQuota, EtcdQuotaArgs } from "pulumi-etcd-quota";

const config = new pulumi.Config();
const { kind, args } = config.requireObject<{ kind: string; args: Record<string, unknown> }>("case");
if (kind === "compaction") {
  new EtcdCompaction("space", { endpoints: ["https://127.0.0.1:2379"], ...args } as unknown as EtcdCompactionArgs);
} else {
  new EtcdQuota("quota", { quota: "1GiB", ...args } as unknown as EtcdQuotaArgs);
}
`;

const HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";

/** A number nobody else prints: the digits of a secret given as a number. */
function secretNumber(): number {
  return 7_000_000_000 + Math.floor(Math.random() * 999_999_999);
}

/** The lines of a PEM block's body: each is a needle, so a message quoting part of the key is caught too. */
function bodyLines(pem: string): string[] {
  return pem.split("\n").filter((line) => line.length >= 16 && !line.startsWith("-----"));
}

describe("no secret input reaches the pulumi CLI's output when given wrongly (real CLI)", function () {
  // Ten previews, one per wrong secret, after the package install every CLI test makes.
  this.timeout(900_000);
  let project: PulumiProject | undefined;
  let tls: LabTls | undefined;

  afterEach(() => {
    project?.remove();
    tls?.remove();
  });

  it("fails pulumi preview naming each input, and no secret's text, number or URL password is in stdout or stderr", async () => {
    tls = makeLabTls();
    const key = tls.client.key;
    const sshKey = [
      "-----BEGIN OPENSSH PRIVATE KEY-----",
      ...(randomBytes(180)
        .toString("base64")
        .match(/.{1,70}/g) ?? []),
      "-----END OPENSSH PRIVATE KEY-----",
    ].join("\n");
    const urlPassword = `pw-${randomBytes(9).toString("hex")}`;
    const numbers = Array.from({ length: 6 }, secretNumber);
    const member = (connection: Record<string, unknown>) => ({
      endpoint: "https://127.0.0.1:2379",
      configFile: "/etc/etcd/etcd.conf.yml",
      connection: { host: "10.0.0.1", hostKey: HOST_KEY, ...connection },
    });
    // Each resource holds one wrong secret; [its field as the failure names it, the resource's args].
    const compactions: Record<string, [RegExp, Record<string, unknown>]> = {
      "tls-as-text": [/tls: expected \{ ca, cert, key \} .*got a string of [\d,]+ characters/, { tls: key }],
      "tls-key-number": [/tls\.cert: .*got a number/, { tls: { cert: numbers[0], key: numbers[0] } }],
      "password-number": [/password: expected a string, got a number/, { username: "root", password: numbers[1] }],
      "url-credentials": [
        /endpoints\[0\]: "https:\/\/root:\*\*\*@127\.0\.0\.1:2379" carries credentials/,
        { endpoints: [`https://root:${urlPassword}@127.0.0.1:2379`] },
      ],
    };
    const quotas: Record<string, [RegExp, Record<string, unknown>]> = {
      "ssh-password-number": [
        /members\[0\]\.connection\.password: .*got a number/,
        { members: [member({ password: numbers[2] })] },
      ],
      "ssh-key-garbled": [/members\[0\]\.connection\.privateKey: /, { members: [member({ privateKey: sshKey })] }],
      "ssh-passphrase-number": [
        /members\[0\]\.connection\.privateKeyPassword: .*got a number/,
        { members: [member({ privateKey: key, privateKeyPassword: numbers[3] })] },
      ],
      "jump-password-number": [
        /members\[0\]\.connection\.proxy\.password: .*got a number/,
        { members: [member({ password: "x", proxy: { host: "10.0.0.9", hostKey: HOST_KEY, password: numbers[4] } })] },
      ],
      "connection-as-text": [
        /members\[0\]\.connection: expected an object .*got a string of [\d,]+ characters/,
        { members: [{ ...member({}), connection: key }] },
      ],
      "quota-password-number": [
        /password: expected a string, got a number/,
        { members: [member({ password: "x" })], username: "root", password: numbers[5] },
      ],
    };
    project = await PulumiProject.create({ name: "secret-messages", program: PROGRAM });
    await project.run(["stack", "init", "dev"]);
    let output = "";
    const cases = [
      ...Object.entries(compactions).map(([name, [expected, args]]) => ({ name, expected, kind: "compaction", args })),
      ...Object.entries(quotas).map(([name, [expected, args]]) => ({ name, expected, kind: "quota", args })),
    ];
    for (const { name, expected, kind, args } of cases) {
      await project.setConfig("dev", { case: JSON.stringify({ kind, args }) });
      const preview = await project.run(["preview", "--stack", "dev"], { check: false });
      assert.notEqual(preview.code, 0, `${name}: ${preview.stdout}`);
      // The check failed on this input, so the secret's absence from the output below means something.
      assert.match(preview.stdout + preview.stderr, expected, `${name}:\n${preview.stdout}${preview.stderr}`);
      output += preview.stdout + preview.stderr;
    }
    const needles: [string, string][] = [
      ...bodyLines(key).map((line): [string, string] => ["the TLS client key", line]),
      ...bodyLines(sshKey).map((line): [string, string] => ["the SSH private key", line]),
      ["the URL's password", urlPassword],
      ...numbers.map((n): [string, string] => ["a password given as a number", String(n)]),
    ];
    const found = needles.filter(([, needle]) => output.includes(needle)).map(([what]) => what);
    assert.deepEqual([...new Set(found)], [], `secrets in the CLI's output:\n${output}`);
  });
});
