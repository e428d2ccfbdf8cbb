/**
 * One error tree for the whole project, so callers (and tests) can tell a bad input from an unsafe cluster from a
 * failed step without parsing messages.
 */
export class EtcdQuotaError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** An input is malformed or out of range. `field` is the input's path, e.g. `defrag.minFreeBytes`. */
export class InvalidInputError extends EtcdQuotaError {
  constructor(
    readonly field: string,
    readonly problem: string,
  ) {
    super(`${field}: ${problem}`);
  }
}

/** The cluster is not in a state where it is safe to proceed (member down, CORRUPT alarm, quorum at risk). */
export class UnsafeClusterError extends EtcdQuotaError {}

/** A member could not be reached or answered with an error. */
export class MemberUnavailableError extends EtcdQuotaError {
  constructor(
    readonly endpoint: string,
    readonly detail: string,
  ) {
    super(`etcd member ${endpoint}: ${detail}`);
  }
}

/** A bounded wait ran out. */
export class TimeoutError extends EtcdQuotaError {}

/** A configuration file cannot be read or edited as asked. `file` is the path, or a label when there is none. */
export class ConfigFileError extends EtcdQuotaError {
  constructor(
    readonly file: string,
    readonly problem: string,
  ) {
    super(`${file}: ${problem}`);
  }
}

/** A command or file operation on a host failed. */
export class HostError extends EtcdQuotaError {}
