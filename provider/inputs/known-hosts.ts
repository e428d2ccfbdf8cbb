import { createHash, createHmac } from "node:crypto";
import type { ServerHostKeyAlgorithm } from "ssh2";

/** A host public key as the SSH protocol carries it. */
export interface PublicKey {
  /** The key type, e.g. `ssh-ed25519`. */
  readonly type: string;
  /** The SSH wire encoding of the key, which is what the server presents and what is compared. */
  readonly blob: Buffer;
}

/** The keys a known_hosts text lists for one host and port. */
export interface KnownKeys {
  /** Keys that identify the host. */
  readonly accepted: readonly PublicKey[];
  /** Keys marked `@revoked`, refused even when also listed as accepted. */
  readonly revoked: readonly PublicKey[];
}

/**
 * Host key types and the signature algorithms that use them. Offering the server only the algorithms for the types we
 * hold a key for makes it present one we can check, instead of, say, its RSA key when we pinned its ed25519 key.
 */
const SIGNATURE_ALGORITHMS: Readonly<Record<string, readonly ServerHostKeyAlgorithm[]>> = {
  "ssh-ed25519": ["ssh-ed25519"],
  "ecdsa-sha2-nistp256": ["ecdsa-sha2-nistp256"],
  "ecdsa-sha2-nistp384": ["ecdsa-sha2-nistp384"],
  "ecdsa-sha2-nistp521": ["ecdsa-sha2-nistp521"],
  // Never `ssh-rsa` itself: that is the RSA key signed with SHA-1, which OpenSSH turned off by default in 8.8.
  "ssh-rsa": ["rsa-sha2-512", "rsa-sha2-256"],
};

const KEY_LINE = /^(\S+)\s+([A-Za-z0-9+/]+={0,2})(?:\s.*)?$/;

/**
 * Parses a public key line such as `ssh-ed25519 AAAA... comment`. Returns the reason it is unusable as a string, so
 * callers can word the error for their own input.
 */
export function parsePublicKey(text: string): PublicKey | string {
  const match = KEY_LINE.exec(text.trim());
  if (!match) return `expected "<type> <base64 key>", e.g. "ssh-ed25519 AAAAC3Nza..."`;
  const [, type, base64] = match;
  if (!(type in SIGNATURE_ALGORITHMS)) {
    return `unsupported key type "${type}" (supported: ${Object.keys(SIGNATURE_ALGORITHMS).join(", ")})`;
  }
  const blob = Buffer.from(base64, "base64");
  // The blob starts with its own type name; a mismatch means a truncated or mis-pasted key.
  const nameLength = blob.length >= 4 ? blob.readUInt32BE(0) : -1;
  if (nameLength < 0 || blob.length < 4 + nameLength || blob.toString("latin1", 4, 4 + nameLength) !== type) {
    return `the base64 part is not a ${type} key`;
  }
  return { type, blob };
}

/**
 * Finds the keys listed for `host` and `port` in known_hosts text. Like OpenSSH, port 22 is looked up as `host` and
 * other ports as `[host]:port`; patterns may use `*`, `?`, `!negation` and comma lists, and hashed names (`|1|salt|hash`)
 * are matched with HMAC-SHA1. `@cert-authority` lines are skipped because certificates are not supported, and lines
 * with key types we cannot check are skipped as OpenSSH does. Returns the reason when a line is malformed.
 */
export function findKnownKeys(knownHosts: string, host: string, port: number): KnownKeys | string {
  const name = port === 22 ? host.toLowerCase() : `[${host.toLowerCase()}]:${port}`;
  const accepted: PublicKey[] = [];
  const revoked: PublicKey[] = [];
  const lines = knownHosts.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === "" || line.startsWith("#")) continue;
    const words = line.split(/\s+/);
    const marker = words[0].startsWith("@") ? words.shift() : undefined;
    if (marker !== undefined && marker !== "@revoked" && marker !== "@cert-authority") {
      return `line ${i + 1}: unknown marker "${marker}"`;
    }
    if (words.length < 3) return `line ${i + 1}: expected "<host patterns> <type> <base64 key>"`;
    const [patterns, type, base64] = words;
    if (marker === "@cert-authority" || !(type in SIGNATURE_ALGORITHMS)) continue;
    if (!hostMatches(patterns, name)) continue;
    const key = parsePublicKey(`${type} ${base64}`);
    if (typeof key === "string") return `line ${i + 1}: ${key}`;
    (marker === "@revoked" ? revoked : accepted).push(key);
  }
  return { accepted, revoked };
}

/** The server host key algorithms to offer so that the server presents one of `keys`. */
export function signatureAlgorithms(keys: readonly PublicKey[]): ServerHostKeyAlgorithm[] {
  return [...new Set(keys.flatMap((key) => SIGNATURE_ALGORITHMS[key.type]))];
}

/** The fingerprint `ssh-keygen -l` prints, e.g. `SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU`. */
export function fingerprint(blob: Buffer): string {
  return `SHA256:${createHash("sha256").update(blob).digest("base64").replace(/=+$/, "")}`;
}

/** The key type named at the start of a wire-format key blob. */
export function blobType(blob: Buffer): string {
  return blob.length >= 4 ? blob.toString("latin1", 4, 4 + blob.readUInt32BE(0)) : "unknown";
}

function hostMatches(patterns: string, name: string): boolean {
  if (patterns.startsWith("|1|")) {
    const [salt, hash] = patterns.slice(3).split("|");
    if (salt === undefined || hash === undefined) return false;
    const digest = createHmac("sha1", Buffer.from(salt, "base64")).update(name).digest("base64");
    return digest === hash;
  }
  let matched = false;
  for (const pattern of patterns.toLowerCase().split(",")) {
    const negated = pattern.startsWith("!");
    if (!globToRegExp(negated ? pattern.slice(1) : pattern).test(name)) continue;
    // A matching negation vetoes the whole line, whatever else matches.
    if (negated) return false;
    matched = true;
  }
  return matched;
}

function globToRegExp(glob: string): RegExp {
  const body = glob
    .replace(/[.+^${}()|[\]\\]/g, "\\$&")
    .replace(/\*/g, ".*")
    .replace(/\?/g, ".");
  return new RegExp(`^${body}$`);
}
