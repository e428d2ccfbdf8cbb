import { rejectMisspelledKeys } from "./check";
import type * as Ssh2 from "ssh2";
import { InvalidInputError } from "../errors";
import { describeValue, describeShape } from "../values/shown";
import { findKnownKeys, parsePublicKey } from "./known-hosts";

/** How to reach a member's machine over SSH; the subset of `@pulumi/command`'s `remote.ConnectionArgs` we support. */
export interface ConnectionInput {
  /** Host name or IP address. */
  readonly host: string;
  /** SSH port; defaults to 22. */
  readonly port?: number;
  /** Login user; defaults to `root`. */
  readonly user?: string;
  /** Private key text (OpenSSH or PEM format). */
  readonly privateKey?: string;
  /** Passphrase of an encrypted `privateKey`. */
  readonly privateKeyPassword?: string;
  /** Login password, for hosts without key login. */
  readonly password?: string;
  /** The host's public key, e.g. `ssh-ed25519 AAAA...`, as printed by `ssh-keyscan -t ed25519 HOST`. */
  readonly hostKey?: string;
  /** known_hosts text listing the host's keys; used when `hostKey` is not set. */
  readonly knownHosts?: string;
  /** Run file edits and commands through `sudo -n`; defaults to true when `user` is not root. */
  readonly sudo?: boolean;
  /** Seconds to wait for the connection, handshake and login; defaults to 15. */
  readonly dialTimeout?: number;
  /** The same as `dialTimeout`, under @pulumi/command's name; give one or the other. */
  readonly perDialTimeout?: number;
  /** An SSH agent's socket (e.g. `$SSH_AUTH_SOCK`) to log in with, instead of or besides `privateKey`. */
  readonly agentSocketPath?: string;
  /** A jump host to reach this one through (`ssh -J`): its own host, port, user, credentials and host key. */
  readonly proxy?: ConnectionInput;
}

/** A checked connection input with its defaults filled in. */
export interface Connection extends ConnectionInput {
  /** SSH port. */
  readonly port: number;
  /** Login user. */
  readonly user: string;
  /** Whether file edits and commands go through `sudo -n`. */
  readonly sudo: boolean;
  /** Seconds to wait for the connection, handshake and login. */
  readonly dialTimeout: number;
  /** The checked jump host, if any. */
  readonly proxy?: Connection;
}

/** Every connection setting, in a fixed order. */
export const FIELDS: readonly string[] = [
  "host",
  "port",
  "user",
  "privateKey",
  "privateKeyPassword",
  "password",
  "hostKey",
  "knownHosts",
  "sudo",
  "dialTimeout",
  "perDialTimeout",
  "agentSocketPath",
  "proxy",
];
/** A jump host only forwards the connection: it runs no command, so it has no sudo, and no jump host of its own. */
const PROXY_FIELDS = FIELDS.filter((name) => name !== "sudo" && name !== "proxy");

const DEFAULT_PORT = 22;
const DEFAULT_USER = "root";
const DEFAULT_DIAL_TIMEOUT_SECONDS = 15;

// Host names, IPv4 and IPv6 addresses (with an optional zone). Excluding everything else keeps the value safe in
// messages, known_hosts lookups and `ssh-keyscan` hints; a leading dash could be read as an option.
const HOST_PATTERN = /^[A-Za-z0-9._:%][A-Za-z0-9._:%-]*$/;
const USER_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9._-]*\$?$/;
const PRIVATE_KEY_PATTERN = /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/;

/**
 * Checks a connection input and fills in the defaults (port, user, sudo, dialTimeout). `field` is the input's path for
 * messages, e.g. `members[0].connection`. Host key verification is required: connecting without it would hand the
 * login credentials and root access to whoever answers on that address.
 */
export function validateConnection(value: unknown, field: string, isProxy = false): Connection {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    // Never the value: a connection given as text may be a private key or a `user:password@host` line.
    throw new InvalidInputError(
      field,
      `expected an object with host, user and privateKey, got ${describeShape(value)}`,
    );
  }
  const input = value as Record<string, unknown>;
  rejectMisspelledKeys(
    // A checked proxy carries the `sudo: false` this function gives it, and connectSsh checks a connection again.
    Object.fromEntries(
      Object.entries(input).filter(
        ([name, given]) => given !== null && !(isProxy && name === "sudo" && given === false),
      ),
    ),
    isProxy ? PROXY_FIELDS : FIELDS,
    field,
    isProxy ? "proxy setting" : "connection setting",
  );

  const host = input.host;
  if (typeof host !== "string" || host === "") {
    throw new InvalidInputError(`${field}.host`, `is required: a host name or IP address, got ${describeValue(host)}`);
  }
  if (!HOST_PATTERN.test(host)) {
    throw new InvalidInputError(
      `${field}.host`,
      `"${host}" is not a host name or IP address (no spaces, brackets or shell characters)`,
    );
  }

  const port = input.port ?? DEFAULT_PORT;
  if (typeof port !== "number" || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new InvalidInputError(`${field}.port`, `must be a whole number from 1 to 65535, got ${describeValue(port)}`);
  }

  const user = input.user ?? DEFAULT_USER;
  if (typeof user !== "string" || !USER_PATTERN.test(user)) {
    throw new InvalidInputError(
      `${field}.user`,
      `must be a user name such as "root" or "ubuntu", got ${describeValue(user)}`,
    );
  }

  const privateKey = optionalString(input, "privateKey", field);
  const privateKeyPassword = optionalString(input, "privateKeyPassword", field);
  const password = optionalString(input, "password", field);
  if (privateKey !== undefined) checkPrivateKey(privateKey, privateKeyPassword, field);
  if (privateKey === undefined && privateKeyPassword !== undefined) {
    throw new InvalidInputError(`${field}.privateKeyPassword`, "is set but privateKey is not");
  }
  const agentSocketPath = optionalString(input, "agentSocketPath", field);
  if (agentSocketPath !== undefined && !agentSocketPath.startsWith("/")) {
    throw new InvalidInputError(
      `${field}.agentSocketPath`,
      `must be an absolute path, got ${describeValue(agentSocketPath)}`,
    );
  }
  if (privateKey === undefined && password === undefined && agentSocketPath === undefined) {
    throw new InvalidInputError(
      `${field}.privateKey`,
      "is required unless password or agentSocketPath is set: give a way to log in",
    );
  }

  const hostKey = optionalString(input, "hostKey", field);
  const knownHosts = optionalString(input, "knownHosts", field);
  if (hostKey !== undefined) {
    const key = parsePublicKey(hostKey);
    if (typeof key === "string") throw new InvalidInputError(`${field}.hostKey`, key);
  }
  if (knownHosts !== undefined) {
    const known = findKnownKeys(knownHosts, host, port);
    if (typeof known === "string") throw new InvalidInputError(`${field}.knownHosts`, known);
    if (hostKey === undefined && known.accepted.length === 0) {
      throw new InvalidInputError(
        `${field}.knownHosts`,
        `has no usable key for ${port === DEFAULT_PORT ? host : `[${host}]:${port}`}; ${keyscanHint(host, port)}`,
      );
    }
  }
  if (hostKey === undefined && knownHosts === undefined) {
    throw new InvalidInputError(
      `${field}.hostKey`,
      `host key verification is required: set hostKey or knownHosts; ${keyscanHint(host, port)}`,
    );
  }

  const sudo = input.sudo ?? user !== "root";
  if (typeof sudo !== "boolean") {
    throw new InvalidInputError(`${field}.sudo`, `must be true or false, got ${describeValue(sudo)}`);
  }

  const given = input.dialTimeout ?? undefined;
  const perDial = input.perDialTimeout ?? undefined;
  if (given !== undefined && perDial !== undefined) {
    throw new InvalidInputError(`${field}.perDialTimeout`, "is dialTimeout under another name: give one of them");
  }
  const timeoutField = perDial !== undefined ? "perDialTimeout" : "dialTimeout";
  const dialTimeout = given ?? perDial ?? DEFAULT_DIAL_TIMEOUT_SECONDS;
  if (typeof dialTimeout !== "number" || !Number.isFinite(dialTimeout) || dialTimeout <= 0) {
    throw new InvalidInputError(
      `${field}.${timeoutField}`,
      `must be a positive number of seconds, got ${describeValue(dialTimeout)}`,
    );
  }

  const proxy =
    isProxy || input.proxy === undefined || input.proxy === null
      ? undefined
      : validateConnection(input.proxy, `${field}.proxy`, true);

  return {
    host,
    port,
    user,
    privateKey,
    privateKeyPassword,
    password,
    hostKey,
    knownHosts,
    sudo: isProxy ? false : sudo,
    dialTimeout,
    ...(agentSocketPath === undefined ? {} : { agentSocketPath }),
    ...(proxy === undefined ? {} : { proxy }),
  };
}

function keyscanHint(host: string, port: number): string {
  const portOption = port === DEFAULT_PORT ? "" : `-p ${port} `;
  return `get the key with \`ssh-keyscan ${portOption}-t ed25519 ${host}\` (check it against /etc/ssh/ssh_host_ed25519_key.pub on the host)`;
}

/** The inputs whose values never reach a message, only their shape. */
const SECRET_FIELDS: ReadonlySet<string> = new Set(["privateKey", "privateKeyPassword", "password"]);

/**
 * Null counts as absent, as it does for the `??` defaults, since serialized inputs may carry either. A secret's
 * value is described by its shape (`a number`), never repeated.
 */
function optionalString(input: Record<string, unknown>, key: string, field: string): string | undefined {
  const value = input[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string" || value === "") {
    const got = SECRET_FIELDS.has(key) ? describeShape(value) : describeValue(value);
    throw new InvalidInputError(`${field}.${key}`, `must be a non-empty string, got ${got}`);
  }
  return value;
}

function checkPrivateKey(privateKey: string, passphrase: string | undefined, field: string): void {
  if (!PRIVATE_KEY_PATTERN.test(privateKey)) {
    throw new InvalidInputError(
      `${field}.privateKey`,
      'does not look like a private key: expected text starting with "-----BEGIN OPENSSH PRIVATE KEY-----" or another PEM private key header',
    );
  }
  // Loaded here, not at the top: a cluster without SSH members never loads ssh2 (nor its native crypto).
  const { utils } = require("ssh2") as typeof Ssh2;
  const parsed = utils.parseKey(privateKey, passphrase);
  if (!(parsed instanceof Error)) return;
  if (/no passphrase given/i.test(parsed.message)) {
    throw new InvalidInputError(`${field}.privateKeyPassword`, "is required: privateKey is encrypted");
  }
  if (/passphrase/i.test(parsed.message)) {
    throw new InvalidInputError(`${field}.privateKeyPassword`, "does not decrypt privateKey");
  }
  throw new InvalidInputError(`${field}.privateKey`, `cannot be parsed: ${parsed.message}`);
}
