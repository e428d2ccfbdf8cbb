/**
 * A resource's lifecycle over plain values, with no Pulumi type in it: the one core both faces serve. The dynamic
 * providers (provider/dynamic.ts) and the plugin's gRPC server (plugin/server.ts) only translate these calls and
 * results to and from their protocol, so the two cannot differ in behaviour, messages or progress lines.
 */
import type { CheckFailure } from "../errors";

/** What `check` returns: the inputs to go on with, and the problems that stop a preview. */
export interface CheckResult<Inputs> {
  readonly inputs: Inputs;
  readonly failures: readonly CheckFailure[];
}

/** What `diff` returns. */
export interface DiffResult {
  /** Whether an update is needed. */
  readonly changes: boolean;
  /** The inputs (and `maintenance`) that differ, in the order a preview should name them. */
  readonly changed: readonly string[];
}

/** What `create` returns: the resource's ID and its state. */
export interface CreateResult<Outputs> {
  readonly id: string;
  readonly outs: Outputs;
}

/** What `read` returns: the state found, and the inputs later diffs compare against. */
export interface ReadResult<Outputs> {
  readonly id: string;
  readonly props: Outputs;
  readonly inputs: Readonly<Record<string, unknown>>;
}

/** A resource's lifecycle, called with the values the engine holds (secrets already unwrapped by the face). */
export interface ResourceLifecycle<Inputs, Outputs> {
  check(olds: Inputs, news: Inputs): Promise<CheckResult<Inputs>>;
  diff(id: string, olds: Outputs, news: Inputs): Promise<DiffResult>;
  create(inputs: Inputs): Promise<CreateResult<Outputs>>;
  read(id: string, props?: Outputs): Promise<ReadResult<Outputs>>;
  update(id: string, olds: Outputs, news: Inputs): Promise<{ readonly outs: Outputs }>;
  delete(id: string, props: Outputs): Promise<void>;
}
