import * as path from "path";
import { InvalidInputError } from "../errors";
import { rejectMisspelledKeys } from "./check";
import { describeValue } from "../values/shown";

/** Where the snapshot taken before a run's first change goes, and how many are kept. */
export interface SnapshotSettings {
  /** Absolute path on the machine running Pulumi, with `{time}` in the file name. */
  readonly path: string;
  /** How many snapshots of this path to keep, the newest; older ones are deleted after a new one is verified. */
  readonly keep: number;
}

const DEFAULT_SNAPSHOTS_KEPT = 3;
const MAX_SNAPSHOTS_KEPT = 1000;
/** The one placeholder the provider fills; the SDK fills `{stack}` and `{resource}` before the value gets here. */
export const TIME = "{time}";
const FILLED_BY_THE_SDK = ["{stack}", "{resource}"];

/**
 * `snapshot`: absent means no snapshot. The path must say where the file goes without guessing: absolute (the
 * provider's working directory is not the program's under every engine), one `{time}` in the file name (so each run
 * writes a file of its own and retention can tell this resource's snapshots from anything else in the folder).
 */
export function validateSnapshot(value: unknown, field = "snapshot"): SnapshotSettings | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new InvalidInputError(field, `expected an object with path and keep, got ${describeValue(value)}`);
  }
  const raw = value as Record<string, unknown>;
  rejectMisspelledKeys(raw, ["path", "keep"], field, `${field} setting`);
  const file = raw.path;
  if (typeof file !== "string" || file === "") {
    throw new InvalidInputError(
      `${field}.path`,
      `expected a file path such as /var/backups/etcd/{stack}-{time}.db, got ${describeValue(file)}`,
    );
  }
  for (const placeholder of FILLED_BY_THE_SDK) {
    if (file.includes(placeholder)) {
      throw new InvalidInputError(
        `${field}.path`,
        `${placeholder} is filled in by the SDK's resource classes (EtcdQuota, EtcdCompaction); give the name itself when declaring the provider's resource directly`,
      );
    }
  }
  if (!path.isAbsolute(file)) {
    throw new InvalidInputError(`${field}.path`, `expected an absolute path, got ${describeValue(file)}`);
  }
  const name = path.basename(file);
  if (name.split(TIME).length !== 2 || path.dirname(file).includes(TIME)) {
    throw new InvalidInputError(
      `${field}.path`,
      `expected ${TIME} once, in the file name (so each run writes its own file and the newest ${field}.keep are kept), got ${describeValue(file)}`,
    );
  }
  const stray = /\{[^}]*\}/.exec(name.replace(TIME, ""));
  if (stray) {
    throw new InvalidInputError(
      `${field}.path`,
      `unknown placeholder ${stray[0]}; the placeholders are {stack}, {resource} and {time}`,
    );
  }
  const keep = raw.keep === undefined ? DEFAULT_SNAPSHOTS_KEPT : raw.keep;
  if (typeof keep !== "number" || !Number.isSafeInteger(keep) || keep < 1 || keep > MAX_SNAPSHOTS_KEPT) {
    throw new InvalidInputError(
      `${field}.keep`,
      `expected a whole number of snapshots to keep, 1 to ${MAX_SNAPSHOTS_KEPT}, got ${describeValue(keep)}`,
    );
  }
  return { path: file, keep };
}
