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

/** A failure `check` returns: the shape of @pulumi/pulumi's `dynamic.CheckFailure`, without loading it here. */
export interface CheckFailure {
  /** Left empty (see {@link checkFailure}). */
  readonly property: string;
  /** The input's name, then what is wrong with it. */
  readonly reason: string;
}

/**
 * A `check` failure as the engine shows it. The reason names the field (`members[1].configFile: ...`) and the
 * property stays empty: for a failure naming a property, the Pulumi CLI prints that property's whole value in Go's
 * notation (`property members value {&{{[{map[...]}]}}} has a problem: ...`), several lines of noise for `members`.
 */
export function checkFailure(field: string, reason: string): CheckFailure {
  return { property: "", reason: `${field}: ${reason}` };
}

/** The cluster is not in a state where it is safe to proceed (member down, CORRUPT alarm, quorum at risk). */
export class UnsafeClusterError extends EtcdQuotaError {}

/** NOSPACE was kept raised: a member is still at or above `disarmBelow` of its quota, so a write would raise it again. */
export class DisarmRefusedError extends UnsafeClusterError {}

/**
 * A member could not be reached or answered with an error. The subclasses below say which condition; this class
 * itself is any other error a member answered with.
 */
export class MemberUnavailableError extends EtcdQuotaError {
  constructor(
    readonly endpoint: string,
    readonly detail: string,
    /**
     * The input that fixes it, when one does: `tls.ca`, `tls.cert`, `username`, `password`, or `endpoint` for the
     * member's own client URL.
     */
    readonly input?: string,
  ) {
    super(`etcd member ${endpoint}: ${detail}`);
  }
}

/** Nothing answered at the client URL: no etcd running, the port closed, the host or route gone. */
export class EtcdUnreachableError extends MemberUnavailableError {}

/** The member did not answer one call within its bound. */
export class EtcdDeadlineError extends MemberUnavailableError {}

/** TLS to the member failed: an untrusted server certificate, a refused client certificate, a name or validity. */
export class EtcdTlsError extends MemberUnavailableError {}

/** etcd refused the credentials: wrong user or password, credentials to a cluster without auth, or none with it. */
export class EtcdAuthError extends MemberUnavailableError {}

/** The user is known but lacks the role the call needs (maintenance needs root). */
export class EtcdPermissionError extends MemberUnavailableError {}

/** The member refuses the write because the NOSPACE alarm is raised (`mvcc: database space exceeded`). */
export class EtcdNoSpaceError extends MemberUnavailableError {}

/** What answers at the client URL is not etcd's gRPC: another service, or another of etcd's ports. */
export class NotEtcdError extends MemberUnavailableError {}

/**
 * The member sent more than a read from it is allowed to hold (a `/metrics` page over its cap): not a page etcd
 * writes, so the read was stopped rather than filling this machine's memory.
 */
export class OversizedAnswerError extends MemberUnavailableError {}

/** The conditions a preview fails on: they need a change to the program, not a member brought back. */
const ACCESS_ERRORS = [EtcdTlsError, EtcdAuthError, EtcdPermissionError, NotEtcdError] as const;

/** Whether `error` says the access settings (URL, TLS, user) are wrong rather than that the member is down. */
export function isAccessError(error: unknown): error is MemberUnavailableError {
  return ACCESS_ERRORS.some((kind) => error instanceof kind);
}

/** A member reports two different quotas: its Status's `dbSizeQuota` (etcd 3.6+) and its quota metric. */
export class QuotaReportsDisagreeError extends MemberUnavailableError {}

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

/**
 * The snapshot a run takes before its first change could not be taken, written or verified; the run stopped before
 * changing anything. `file` is where it was to go.
 */
export class SnapshotError extends EtcdQuotaError {
  constructor(
    readonly file: string,
    readonly problem: string,
  ) {
    super(`snapshot ${file}: ${problem}; nothing was changed`);
  }
}

/**
 * Part of a create or update was carried out before it failed. The Pulumi host turns an error that carries `id`,
 * `properties` and `reasons` into a partial failure: the engine stores `properties` as the resource's state, so the
 * next `pulumi up` sees what was done and resumes from there.
 */
export class PartialFailureError extends EtcdQuotaError {
  constructor(
    message: string,
    readonly id: string,
    readonly properties: Record<string, unknown>,
    readonly reasons: readonly string[] = [message],
  ) {
    super(message);
  }
}

/**
 * A multi-step run stopped part way. `done` is the record of what was carried out before `cause`, so the provider
 * can report a partial failure with the truth about every member.
 */
export class InterruptedError<T> extends EtcdQuotaError {
  constructor(
    message: string,
    readonly done: T,
    override readonly cause: unknown,
  ) {
    super(message);
  }
}
