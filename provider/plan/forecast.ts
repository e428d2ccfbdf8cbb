import { formatDuration } from "../values/duration";
import type { ClusterObservation } from "../types/observation";
import { formatSize } from "../values/size";

/** One refresh's reading: the largest DB file against the smallest quota, when it was read. */
export interface SizeSample {
  /** When, as UTC ISO 8601. */
  readonly at: string;
  /** The largest voting member's DB file size: etcd refuses writes once a member's file would pass its quota. */
  readonly dbSize: number;
  /** The smallest quota a voting member reports. */
  readonly quotaBytes: number;
}

/** What the samples say about when the quota is reached. */
export interface Forecast {
  /** One sentence for the `forecast` output and the preview. */
  readonly text: string;
  /** Seconds until the largest file reaches the quota at the fitted rate; null when it cannot be said. */
  readonly secondsLeft: number | null;
}

/** A line through fewer points, or over a shorter time, says more about noise than about growth. */
const MIN_SAMPLES = 3;
const MIN_SPAN_MS = 30_000;
/** About two days of hourly refreshes: enough for a trend, little state. */
export const MAX_SAMPLES = 48;

/** The reading of this observation, or undefined when no voting member reports both a size and a quota. */
export function sampleOf(observation: ClusterObservation, at: Date): SizeSample | undefined {
  const measured = observation.members.filter((m) => !m.isLearner && m.metrics.quotaBytes !== undefined);
  if (measured.length === 0) return undefined;
  return {
    at: at.toISOString(),
    dbSize: Math.max(...measured.map((m) => m.dbSize)),
    quotaBytes: Math.min(...measured.map((m) => m.metrics.quotaBytes!)),
  };
}

/**
 * The samples kept after a refresh: the earlier ones plus this one, the newest {@link MAX_SAMPLES}. A different
 * quota starts the series again: growth measured against the old one says nothing about the new.
 */
export function keepSamples(earlier: readonly SizeSample[], latest: SizeSample | undefined): SizeSample[] {
  if (!latest) return [...earlier];
  const sameQuota = earlier.filter((s) => s.quotaBytes === latest.quotaBytes);
  const series = sameQuota.length === earlier.length ? [...earlier, latest] : [latest];
  return series.slice(-MAX_SAMPLES);
}

/** Speaks of a rate per day, the unit in which DB growth is planned. */
function perDay(bytesPerSecond: number): string {
  return `${formatSize(bytesPerSecond * 86_400)}/day`;
}

/**
 * When the largest DB file reaches the quota, from a least-squares line through the samples (as the etcd-mixin's
 * `predict_linear` does): honest about too few samples, and about a file that is not growing.
 */
export function forecast(samples: readonly SizeSample[]): Forecast {
  const span = samples.length < 2 ? 0 : Date.parse(samples.at(-1)!.at) - Date.parse(samples[0].at);
  if (samples.length < MIN_SAMPLES || span < MIN_SPAN_MS) {
    return {
      text: `not enough samples yet: ${samples.length} over ${formatDuration(span)}; a forecast needs ${MIN_SAMPLES} refreshes over ${formatDuration(MIN_SPAN_MS)} or more, kept by \`pulumi refresh\` (a preview's refresh is not saved)`,
      secondsLeft: null,
    };
  }
  const t0 = Date.parse(samples[0].at);
  const xs = samples.map((s) => (Date.parse(s.at) - t0) / 1000);
  const ys = samples.map((s) => s.dbSize);
  const meanX = xs.reduce((a, b) => a + b, 0) / xs.length;
  const meanY = ys.reduce((a, b) => a + b, 0) / ys.length;
  const covariance = xs.reduce((sum, x, i) => sum + (x - meanX) * (ys[i] - meanY), 0);
  const variance = xs.reduce((sum, x) => sum + (x - meanX) ** 2, 0);
  const slope = covariance / variance;
  const latest = samples.at(-1)!;
  const over = `from ${samples.length} samples over ${formatDuration(span)}`;
  if (latest.dbSize >= latest.quotaBytes) {
    return { text: `full now: ${formatSize(latest.dbSize)} of ${formatSize(latest.quotaBytes)}`, secondsLeft: 0 };
  }
  if (!(slope > 0)) {
    return {
      text: `not growing: the largest DB file went from ${formatSize(samples[0].dbSize)} to ${formatSize(latest.dbSize)} (${over})`,
      secondsLeft: null,
    };
  }
  const secondsLeft = (latest.quotaBytes - latest.dbSize) / slope;
  return {
    text: `full in ${formatDuration(secondsLeft * 1000)} at ${perDay(slope)}: ${formatSize(latest.dbSize)} of ${formatSize(latest.quotaBytes)} (${over})`,
    secondsLeft,
  };
}
