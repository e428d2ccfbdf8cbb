import { createHash } from "crypto";
import { ClusterSession } from "../etcd/cluster";
import type { MemberClient, MemberClientOptions } from "../etcd/member";
import type { ClusterObservation } from "../types/observation";
import type { EtcdAccess } from "../inputs/access";

/**
 * How long a look at a cluster and its connections serve the next read-only call of the same run. A `pulumi preview
 * --refresh` reads (refresh), then runs the program, then checks: seconds apart under a loaded CLI. A new `pulumi`
 * command starts a new provider process, so nothing outlives its run there; the bound keeps a host that serves
 * several runs (the engine stand-in, the plugin under a long-lived engine) from answering one run with another's look.
 */
export const SHARE_MS = 10_000;

/** Whether a call may take a refresh's look taken within {@link SHARE_MS}, once (`check`), or must read (`read`). */
export type Freshness = "reuse" | "read";

export interface SessionShareOptions {
  /** How long a look and an idle session are kept. @default SHARE_MS */
  readonly shareMs?: number;
  /** The clock looks are dated by; tests pass their own. @default Date.now */
  readonly now?: () => number;
}

interface Look {
  readonly at: number;
  readonly value: Promise<ClusterObservation>;
  /** The endpoints looked at, as JSON, for {@link SessionShare.forget}. */
  readonly endpoints: string;
  settled: boolean;
  /**
   * Whether a `check` may still take it: only a refresh's look, and only once. A run's refresh is followed by its
   * checks, so that is the share; a check's own look, or one a check took already, may be another run's (two previews
   * seconds apart in one host), and a member stopped between them must be seen.
   */
  forCheck: boolean;
}

interface Held {
  readonly session: ClusterSession;
  users: number;
  closer?: NodeJS.Timeout;
}

/**
 * The key of a cluster as reached with one set of credentials: a hash, so the map holds no password or key. Two
 * calls share only when the endpoints, the CA, the client certificate and key, the user and the password are all
 * the same: another credential may see another cluster (a wrong CA fails where the right one answers).
 */
export function accessKey(access: EtcdAccess): string {
  const { endpoints, tls, username, password } = access;
  const parts = [endpoints, tls?.ca ?? null, tls?.cert ?? null, tls?.key ?? null, username ?? null, password ?? null];
  return createHash("sha256").update(JSON.stringify(parts)).digest("hex");
}

/**
 * Shares, within one provider process, what the read-only calls of one run (check, read, diff) open and read of one
 * cluster: the members' connections and the last look at the cluster, each for {@link SHARE_MS}. A run that changes
 * the cluster (create, update) opens its own session and calls {@link SessionShare.forget} when done, so no call
 * after it reuses a look from before.
 */
export class SessionShare {
  private readonly shareMs: number;
  private readonly now: () => number;
  private readonly looks = new Map<string, Look>();
  private readonly held = new Map<string, Held>();

  constructor(options: SessionShareOptions = {}) {
    this.shareMs = options.shareMs ?? SHARE_MS;
    this.now = options.now ?? Date.now;
  }

  /**
   * A session for one call: the members' clients of an earlier call with the same access and call bounds when one
   * is still held, and an `observe` that takes a look another call took within {@link SHARE_MS} when `freshness` is
   * `reuse`, or joins one under way, else reads. Its `close` hands the connections back; they close once unused for
   * {@link SHARE_MS}.
   */
  open(access: EtcdAccess, options: MemberClientOptions, freshness: Freshness): ClusterSession {
    const key = accessKey(access);
    const sessionKey = `${key}:${options.callTimeoutMs ?? ""}:${options.callTimeoutBoundBy ?? ""}`;
    let held = this.held.get(sessionKey);
    if (!held) {
      held = { session: new ClusterSession(access, options), users: 0 };
      this.held.set(sessionKey, held);
    }
    clearTimeout(held.closer);
    held.users++;
    const entry = held;
    let closed = false;
    const observe = (): Promise<ClusterObservation> => {
      const look = this.looks.get(key);
      const usable =
        look !== undefined &&
        (freshness === "reuse" ? look.forCheck && this.now() - look.at < this.shareMs : look.settled === false);
      if (usable) {
        if (freshness === "reuse") look.forCheck = false;
        return look.value;
      }
      return this.look(key, entry.session, freshness === "read");
    };
    const release = () => {
      if (closed) return;
      closed = true;
      if (--entry.users > 0) return;
      entry.closer = setTimeout(() => {
        if (entry.users > 0) return;
        this.held.delete(sessionKey);
        entry.session.close();
      }, this.shareMs);
      entry.closer.unref();
    };
    // A ClusterSession in all but lifetime: the clients are the held ones, close only hands them back.
    const shared: Pick<ClusterSession, "access" | "clients" | "client" | "observe" | "close"> = {
      access: entry.session.access,
      clients: entry.session.clients as ReadonlyMap<string, MemberClient>,
      client: (endpoint: string) => entry.session.client(endpoint),
      observe,
      close: release,
    };
    return shared as ClusterSession;
  }

  /** Drops every look at the cluster `access` reaches, with any credentials: the cluster has just been changed. */
  forget(access: EtcdAccess): void {
    const endpoints = JSON.stringify(access.endpoints);
    for (const [key, look] of this.looks) if (look.endpoints === endpoints) this.looks.delete(key);
  }

  /** Closes every held session now (a process about to exit, a test's end). */
  closeAll(): void {
    for (const held of this.held.values()) {
      clearTimeout(held.closer);
      held.session.close();
    }
    this.held.clear();
    this.looks.clear();
  }

  private look(key: string, session: ClusterSession, forCheck: boolean): Promise<ClusterObservation> {
    const value = session.observe();
    const look: Look = {
      at: this.now(),
      value,
      settled: false,
      endpoints: JSON.stringify(session.access.endpoints),
      forCheck,
    };
    this.looks.set(key, look);
    value.then(
      () => (look.settled = true),
      // A look that failed serves nobody: the next call asks again.
      () => this.looks.get(key) === look && this.looks.delete(key),
    );
    return value;
  }
}

/** The provider process's share, which the resources' read-only calls go through. */
export const sessionShare = new SessionShare();
