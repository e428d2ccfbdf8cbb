import { AlarmAction, AlarmType, Etcd3 } from "etcd3";

/**
 * Independent views of a cluster for assertions, through etcd3 directly rather than the project's own member
 * clients, so a bug there cannot hide itself.
 */
export function connect(endpoints: readonly string[]): Etcd3 {
  return new Etcd3({ hosts: [...endpoints], defaultCallOptions: () => ({ deadline: Date.now() + 10_000 }) });
}

export async function withClient<T>(endpoints: readonly string[], use: (client: Etcd3) => Promise<T>): Promise<T> {
  const client = connect(endpoints);
  try {
    return await use(client);
  } finally {
    client.close();
  }
}

export interface RawStatus {
  readonly endpoint: string;
  readonly memberId: string;
  readonly dbSize: number;
  readonly dbSizeInUse: number;
  readonly isLeader: boolean;
  readonly revision: number;
}

export function statusOf(endpoint: string): Promise<RawStatus> {
  return withClient([endpoint], async (client) => {
    const status = await client.maintenance.status();
    return {
      endpoint,
      memberId: status.header.member_id,
      dbSize: Number(status.dbSize),
      dbSizeInUse: Number(status.dbSizeInUse),
      isLeader: status.leader === status.header.member_id,
      revision: Number(status.header.revision),
    };
  });
}

/** `alarm list`, as `<TYPE>@<decimal member id>`. */
export function alarmsOf(endpoints: readonly string[]): Promise<string[]> {
  return withClient(endpoints, async (client) => {
    const response = await client.maintenance.alarm({ action: AlarmAction.Get });
    return response.alarms.map((a) => `${String(a.alarm).toUpperCase()}@${a.memberID}`);
  });
}

/** Raises CORRUPT on one member through the Alarm API, as etcd's own corruption check would. */
export function raiseCorrupt(endpoint: string): Promise<void> {
  return withClient([endpoint], async (client) => {
    const memberId = (await client.maintenance.status()).header.member_id;
    await client.maintenance.alarm({ action: AlarmAction.Activate, memberID: memberId, alarm: AlarmType.Corrupt });
  });
}
