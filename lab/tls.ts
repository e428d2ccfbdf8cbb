import { execFileSync } from "child_process";
import { randomBytes } from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

/** A certificate (or CA) and its private key, as PEM text and as files. */
export interface LabKeyPair {
  readonly cert: string;
  readonly key: string;
  readonly certFile: string;
  readonly keyFile: string;
}

/**
 * A throwaway PKI for a lab cluster, made with `openssl`: a CA, a server certificate for 127.0.0.1 (SAN
 * `IP:127.0.0.1` and `DNS:localhost`, usable for client and peer URLs alike) and client certificates. Give it to
 * {@link LabCluster.start} as `tls`, and its `ca`/`client` PEM texts to the resources as `tls: { ca, cert, key }`.
 */
export interface LabTls {
  /** Folder holding every file; {@link LabTls.remove} deletes it. */
  readonly dir: string;
  /** The CA certificate (PEM), what a client passes as `tls.ca`. */
  readonly ca: string;
  readonly caFile: string;
  /** The members' certificate: `--cert-file`/`--key-file` and the peer equivalents. */
  readonly server: LabKeyPair;
  /** A client certificate with CN `root`: etcd's `--client-cert-auth` maps the CN to that user under auth. */
  readonly client: LabKeyPair;
  /** Another client certificate from the same CA, with CN `commonName` (e.g. a limited user). */
  clientFor(commonName: string): LabKeyPair;
  /** Deletes {@link LabTls.dir}; safe to call twice. */
  remove(): void;
}

export interface LabTlsOptions {
  /** Folder for the files; default a new temporary folder. */
  readonly dir?: string;
  /** Common name of {@link LabTls.client} (default `root`). */
  readonly clientCommonName?: string;
  /** Validity in days (default 2: the lab's PKI is for one test run). */
  readonly days?: number;
  /** More addresses the server certificate is for, besides 127.0.0.1: the lab network hosts' (lab/netns.ts). */
  readonly serverAddresses?: readonly string[];
}

// P-256 keys are quick to make (RSA 2048 takes ~100 ms each) and both Go and Node's TLS take them.
const KEY_ARGS = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

/**
 * Makes a new CA, a server certificate for 127.0.0.1 (and `serverAddresses`) and a client certificate, in a temporary
 * folder.
 */
export function makeLabTls(options: LabTlsOptions = {}): LabTls {
  const dir = options.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), "etcd-lab-tls-"));
  fs.mkdirSync(dir, { recursive: true });
  const days = String(options.days ?? 2);
  const file = (name: string) => path.join(dir, name);
  const openssl = (args: readonly string[]) => {
    try {
      execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"], timeout: 30_000 });
    } catch (error) {
      const stderr = (error as { stderr?: Buffer }).stderr?.toString().trim();
      throw new Error(`openssl ${args[0]} failed${stderr ? `: ${stderr}` : ""}`, { cause: error });
    }
  };
  const read = (name: string) => fs.readFileSync(file(name), "utf8");

  // The CA: self-signed, allowed to sign certificates and nothing else.
  openssl([
    "req",
    "-x509",
    ...KEY_ARGS,
    "-keyout",
    file("ca-key.pem"),
    "-out",
    file("ca.pem"),
    "-days",
    days,
    "-subj",
    `/O=etcd lab/CN=etcd lab test CA ${randomBytes(4).toString("hex")}`,
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  ]);

  const issue = (name: string, commonName: string, extensions: string): LabKeyPair => {
    const ext = file(`${name}.ext`);
    fs.writeFileSync(ext, extensions);
    openssl([
      "req",
      "-new",
      ...KEY_ARGS,
      "-keyout",
      file(`${name}-key.pem`),
      "-out",
      file(`${name}.csr`),
      "-subj",
      `/O=etcd lab/CN=${commonName}`,
    ]);
    openssl([
      "x509",
      "-req",
      "-in",
      file(`${name}.csr`),
      "-CA",
      file("ca.pem"),
      "-CAkey",
      file("ca-key.pem"),
      "-set_serial",
      `0x${randomBytes(12).toString("hex")}`,
      "-days",
      days,
      "-sha256",
      "-extfile",
      ext,
      "-out",
      file(`${name}.pem`),
    ]);
    fs.rmSync(file(`${name}.csr`), { force: true });
    fs.rmSync(ext, { force: true });
    fs.chmodSync(file(`${name}-key.pem`), 0o600);
    return {
      cert: read(`${name}.pem`),
      key: read(`${name}-key.pem`),
      certFile: file(`${name}.pem`),
      keyFile: file(`${name}-key.pem`),
    };
  };

  const clientExtensions = [
    "basicConstraints=critical,CA:FALSE",
    "keyUsage=critical,digitalSignature,keyEncipherment",
    "extendedKeyUsage=clientAuth",
    "",
  ].join("\n");
  // serverAuth and clientAuth: members present it on client URLs and, as clients of each other, on peer URLs.
  const server = issue(
    "server",
    "127.0.0.1",
    [
      "basicConstraints=critical,CA:FALSE",
      "keyUsage=critical,digitalSignature,keyEncipherment",
      "extendedKeyUsage=serverAuth,clientAuth",
      `subjectAltName=${["127.0.0.1", ...(options.serverAddresses ?? [])].map((ip) => `IP:${ip}`).join(",")},DNS:localhost`,
      "",
    ].join("\n"),
  );
  const client = issue("client", options.clientCommonName ?? "root", clientExtensions);
  const issued = new Map<string, LabKeyPair>();
  return {
    dir,
    ca: read("ca.pem"),
    caFile: file("ca.pem"),
    server,
    client,
    clientFor(commonName: string): LabKeyPair {
      if (!/^[A-Za-z0-9._-]+$/.test(commonName)) throw new Error(`"${commonName}" is not a plain user name`);
      let pair = issued.get(commonName);
      if (!pair) {
        pair = issue(`client-${commonName}`, commonName, clientExtensions);
        issued.set(commonName, pair);
      }
      return pair;
    },
    remove(): void {
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
