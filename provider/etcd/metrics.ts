import type { MemberMetrics } from "../types/observation";

/**
 * Reads the samples of a Prometheus text exposition, keyed by the metric's name, followed by its labels as printed
 * (`etcd_server_feature_enabled{name="AllAlpha",stage="ALPHA"}`) for labelled ones. etcd prints large gauges in
 * float notation (`1.073741824e+09`), so values are parsed as numbers, never compared as text.
 */
function parsePrometheusText(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?)\s+(\S+)/.exec(line);
    if (!match) continue;
    const value = Number(match[2]);
    if (!Number.isNaN(value)) samples.set(match[1], value);
  }
  return samples;
}

/** Whether etcd 3.6+ reports feature gate `gate` enabled; undefined when it reports no such gate. */
function featureGate(samples: ReadonlyMap<string, number>, gate: string): boolean | undefined {
  for (const [key, value] of samples) {
    if (key.startsWith("etcd_server_feature_enabled{") && key.includes(`name="${gate}"`)) return value === 1;
  }
  return undefined;
}

export function memberMetricsFrom(text: string): MemberMetrics {
  const samples = parsePrometheusText(text);
  return {
    quotaBytes: samples.get("etcd_server_quota_backend_bytes"),
    dbTotalBytes: samples.get("etcd_mvcc_db_total_size_in_bytes"),
    dbInUseBytes: samples.get("etcd_mvcc_db_total_size_in_use_in_bytes"),
    processStartTime: samples.get("process_start_time_seconds"),
    stopsGrpcOnDefrag: featureGate(samples, "StopGRPCServiceOnDefrag"),
  };
}
