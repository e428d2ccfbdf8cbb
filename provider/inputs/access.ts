import { rejectMisspelledKeys } from "./check";
import { InvalidInputError } from "../errors";
import { describeValue, describeShape } from "../values/shown";
import { validateBoolean } from "./common";

/** PEM contents for TLS to etcd's client URLs. */
export interface TlsInput {
  /** CA certificate(s) that signed the members' server certificates. */
  readonly ca?: string;
  /** Client certificate, for members started with `--client-cert-auth`. */
  readonly cert?: string;
  /** The client certificate's private key. */
  readonly key?: string;
}

/** How to reach and authenticate to etcd; shared by every resource of this package. */
export interface EtcdAccess {
  /** Client URLs, one per member. */
  readonly endpoints: readonly string[];
  readonly tls?: TlsInput;
  /** etcd user, when auth is enabled. */
  readonly username?: string;
  readonly password?: string;
  /** Whether `username` and `password` may go to `http://` endpoints, in cleartext; `check` refuses it otherwise. */
  readonly allowInsecureCredentials?: boolean;
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]+?-----END \1-----/;

/**
 * `text` with the credentials of a URL's `user:password@` masked (`https://root:***@10.0.0.1:2379`; a user alone,
 * which may be a token, becomes `***`), also where the text is no valid URL or has no scheme, so a message can quote
 * what was given without repeating a credential.
 */
export function maskUrlCredentials(text: string): string {
  const at = text.lastIndexOf("@");
  if (at === -1) return text;
  const start = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//.exec(text)?.[0].length ?? 0;
  if (at < start) return text;
  const colon = text.indexOf(":", start);
  const user = colon !== -1 && colon < at ? `${text.slice(start, colon)}:` : "";
  return `${text.slice(0, start)}${user}***${text.slice(at)}`;
}

/** Validates one client URL: http(s), a host, a port, and nothing else (no path, query or credentials). */
export function validateEndpoint(value: unknown, field: string): string {
  if (typeof value !== "string" || value.trim() === "") {
    throw new InvalidInputError(
      field,
      `expected a client URL such as "https://10.0.0.1:2379", got ${describeValue(value)}`,
    );
  }
  const shown = `"${maskUrlCredentials(value)}"`;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InvalidInputError(field, `${shown} is not a URL; write it as "https://HOST:2379"`);
  }
  if (url.username || url.password) {
    throw new InvalidInputError(
      field,
      `${shown} carries credentials; pass them as username and password instead (a URL ends up in logs)`,
    );
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new InvalidInputError(field, `${shown} must start with http:// or https://`);
  }
  if ((url.pathname !== "/" && url.pathname !== "") || url.search || url.hash) {
    throw new InvalidInputError(
      field,
      `${shown} has a path or query; an etcd client URL is just scheme, host and port`,
    );
  }
  if (!url.port) {
    throw new InvalidInputError(field, `${shown} has no port; etcd's client port is usually 2379`);
  }
  return `${url.protocol}//${url.host}`;
}

/**
 * More members than any etcd cluster runs: etcd advises 3, 5 or 7 voting members and allows one learner by default.
 * A longer list is a mistake (a generated list gone wrong), refused before thousands of connections are opened.
 */
const MAX_MEMBERS = 16;

/** Refuses a list of members longer than {@link MAX_MEMBERS}. */
function checkMemberCount(list: readonly unknown[], field: string): void {
  if (list.length > MAX_MEMBERS) {
    throw new InvalidInputError(
      field,
      `lists ${list.length} members; an etcd cluster has at most ${MAX_MEMBERS} here (etcd advises 3, 5 or 7 voting members)`,
    );
  }
}

/**
 * EtcdQuota's `members` as a list: not empty, not longer than a cluster can be. Shared by `check` and the SDK class,
 * which looks into the list before it is serialized (for credentials that make it secret).
 */
export function validateMemberList(value: unknown, field = "members"): readonly unknown[] {
  if (!Array.isArray(value) || value.length === 0) {
    throw new InvalidInputError(
      field,
      `expected a non-empty list of { endpoint, configFile }, got ${describeValue(value)}`,
    );
  }
  checkMemberCount(value, field);
  return value;
}

/** Validates a list of client URLs: at least one, at most {@link MAX_MEMBERS}, each valid, no duplicates. */
function validateEndpoints(value: unknown, field = "endpoints"): string[] {
  if (!Array.isArray(value) || value.length === 0) {
    const got = typeof value === "string" ? `"${maskUrlCredentials(value)}"` : describeValue(value);
    throw new InvalidInputError(field, `expected a non-empty list of client URLs, got ${got}`);
  }
  checkMemberCount(value, field);
  const endpoints = value.map((entry, i) => validateEndpoint(entry, `${field}[${i}]`));
  const seen = new Set<string>();
  endpoints.forEach((endpoint, i) => {
    if (seen.has(endpoint)) throw new InvalidInputError(`${field}[${i}]`, `"${endpoint}" is listed twice`);
    seen.add(endpoint);
  });
  return endpoints;
}

function validatePem(value: unknown, field: string, kind: "certificate" | "private key"): string {
  if (typeof value !== "string" || !PEM_BLOCK.test(value)) {
    throw new InvalidInputError(
      field,
      `expected PEM text (-----BEGIN ...-----), got ${typeof value === "string" ? "text that is not PEM" : describeShape(value)}; pass the file's contents, not its path`,
    );
  }
  const label = PEM_BLOCK.exec(value)![1];
  const isKey = label.includes("PRIVATE KEY");
  if (kind === "private key" && !isKey) {
    throw new InvalidInputError(field, `expected a private key, got a PEM "${label}"`);
  }
  if (kind === "certificate" && label !== "CERTIFICATE") {
    throw new InvalidInputError(field, `expected a certificate, got a PEM "${label}"`);
  }
  return value;
}

/** Validates the TLS input; `cert` and `key` go together. */
function validateTls(value: unknown, field = "tls"): TlsInput | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "object" || Array.isArray(value)) {
    throw new InvalidInputError(field, `expected { ca, cert, key } with PEM contents, got ${describeShape(value)}`);
  }
  rejectMisspelledKeys(value as Record<string, unknown>, ["ca", "cert", "key"], field, "TLS setting");
  const { ca, cert, key } = value as Record<string, unknown>;
  if ((cert === undefined) !== (key === undefined)) {
    throw new InvalidInputError(field, "cert and key go together: give both or neither");
  }
  return {
    ca: ca === undefined ? undefined : validatePem(ca, `${field}.ca`, "certificate"),
    cert: cert === undefined ? undefined : validatePem(cert, `${field}.cert`, "certificate"),
    key: key === undefined ? undefined : validatePem(key, `${field}.key`, "private key"),
  };
}

/**
 * Validates endpoints, TLS and credentials together. Inputs named in `unknown` are not known yet (a preview with
 * values computed elsewhere in the program) and are left for the next check.
 */
export function validateAccess(inputs: Record<string, unknown>, unknown: ReadonlySet<string> = new Set()): EtcdAccess {
  const known = (key: string) => (unknown.has(key) ? undefined : inputs[key]);
  const endpoints = unknown.has("endpoints") ? [] : validateEndpoints(inputs.endpoints);
  const tls = validateTls(known("tls"));
  const username = known("username");
  const password = known("password");
  if (username !== undefined && (typeof username !== "string" || username === "")) {
    throw new InvalidInputError("username", `expected a non-empty string, got ${describeValue(username)}`);
  }
  if (password !== undefined && typeof password !== "string") {
    throw new InvalidInputError("password", `expected a string, got ${describeShape(password)}`);
  }
  if ((username === undefined) !== (password === undefined) && !unknown.has("username") && !unknown.has("password")) {
    throw new InvalidInputError(username === undefined ? "username" : "password", "username and password go together");
  }
  if (tls && endpoints.some((e) => e.startsWith("http:"))) {
    throw new InvalidInputError(
      "endpoints",
      "tls is set but some endpoints use http://; use https:// for every member",
    );
  }
  return {
    endpoints,
    tls,
    username: username as string | undefined,
    password: password as string | undefined,
    // Still unknown in a preview: the next check, with every value known, decides.
    allowInsecureCredentials:
      unknown.has("allowInsecureCredentials") ||
      validateBoolean(inputs.allowInsecureCredentials, "allowInsecureCredentials", false),
  };
}

/**
 * Refuses `username` and `password` to an `http://` endpoint unless `allowInsecureCredentials` says so: they would
 * cross the network in cleartext, and so would the token etcd gives back, which any reader can replay. Called by
 * `check` only, so a refresh or delete of state written before this rule still runs. `fieldOf` names the input that
 * holds the i-th endpoint.
 */
export function refuseCleartextCredentials(access: EtcdAccess, fieldOf: (index: number) => string): void {
  if (access.username === undefined || access.allowInsecureCredentials) return;
  const i = access.endpoints.findIndex((endpoint) => endpoint.startsWith("http:"));
  if (i === -1) return;
  throw new InvalidInputError(
    fieldOf(i),
    `"${access.endpoints[i]}" would carry username and password, and the token etcd answers with, in cleartext; use ` +
      "https:// (with tls), or set allowInsecureCredentials: true to send them anyway (a network you trust)",
  );
}
