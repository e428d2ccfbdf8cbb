import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import type { SnapshotRecord } from "../provider/types/snapshot";

/** A snapshot of the cluster (etcd's Maintenance.Snapshot) taken before a run changes anything. */
export interface SnapshotArgs {
  /**
   * Where to write it, on the machine running Pulumi. `{time}` (required, in the file name) becomes the UTC time the
   * snapshot starts; `{stack}` and `{resource}` become the stack's and the resource's names. A relative path is taken
   * from the program's folder. The file holds every key, secrets included, and is written readable by its owner only.
   */
  readonly path: pulumi.Input<string>;
  /**
   * How many snapshots of this path to keep, 1 to 1000; older ones are deleted once a new one is verified.
   * @default 3
   */
  readonly keep?: pulumi.Input<number>;
}

/** A snapshot a run took: where it is and what it holds. */
export type SnapshotTaken = SnapshotRecord;

/**
 * The `snapshot` input as the provider takes it: `{stack}` and `{resource}` filled in and the path made absolute,
 * which only the program knows how to do (the provider sees neither name, nor the program's folder).
 */
export function snapshotInput(
  snapshot: pulumi.Input<SnapshotArgs> | undefined,
  resource: string,
): pulumi.Input<SnapshotArgs> | undefined {
  if (snapshot === undefined) return undefined;
  return pulumi.output(snapshot).apply((value) => {
    if (typeof value !== "object" || value === null || typeof value.path !== "string") return value;
    const filled = value.path.split("{stack}").join(pulumi.getStack()).split("{resource}").join(resource);
    return { ...value, path: path.resolve(filled) };
  });
}
