/** The few Prometheus metrics the project reads from a member's /metrics endpoint. */
export interface MemberMetrics {
  /** `etcd_server_quota_backend_bytes`: the quota in effect (etcd reports its 2 GiB default when the flag is 0). */
  readonly quotaBytes: number | undefined;
  /** `etcd_mvcc_db_total_size_in_bytes`: the size of the DB file. */
  readonly dbTotalBytes: number | undefined;
  /** `etcd_mvcc_db_total_size_in_use_in_bytes`: what is live; the rest is what a defrag gives back. */
  readonly dbInUseBytes: number | undefined;
  /** `process_start_time_seconds`: tells a restarted member from one that never went down. */
  readonly processStartTime: number | undefined;
}

/**
 * Reads the unlabelled samples of a Prometheus text exposition. etcd prints large gauges in float notation
 * (`1.073741824e+09`), so values are parsed as numbers, never compared as text.
 */
export function parsePrometheusText(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)\s+(\S+)/.exec(line);
    if (!match) continue;
    const value = Number(match[2]);
    if (!Number.isNaN(value)) samples.set(match[1], value);
  }
  return samples;
}

export function memberMetricsFrom(text: string): MemberMetrics {
  const samples = parsePrometheusText(text);
  return {
    quotaBytes: samples.get("etcd_server_quota_backend_bytes"),
    dbTotalBytes: samples.get("etcd_mvcc_db_total_size_in_bytes"),
    dbInUseBytes: samples.get("etcd_mvcc_db_total_size_in_use_in_bytes"),
    processStartTime: samples.get("process_start_time_seconds"),
  };
}
