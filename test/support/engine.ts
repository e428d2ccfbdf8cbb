/**
 * An engine stand-in for dynamic providers: drives the real dynamic-provider host (see engine-host) through
 * preview, up, refresh and destroy, and keeps per-resource state the way the Pulumi engine does. Each rule below is
 * taken from the engine's step generator, steps and provider plugin (pulumi/pulumi pkg/resource/deploy and
 * sdk/go/common/resource/plugin), not from documentation.
 *
 * What users do with `pulumi` is proven through the real CLI (lab/pulumi-cli.ts, test/cli/). This stand-in stays for
 * what the CLI cannot do at a test's pace or precision: one provider call at a time in a few milliseconds (the
 * hostile-input corpus runs ~130 previews; the CLI takes seconds each), the host's log lines in the test's own
 * process to time a fault to the millisecond, and the provider host killed alone between two calls. It does not
 * model `pulumi up`'s preview pass (Check and Read run once here, twice under the CLI), Ctrl-C, or pending
 * operations. Where it models a rule the real CLI also shows, a real-CLI test checks the same rule (a failed update
 * keeps the old inputs: test/cli/resume.test.ts and test/etcd/engine.test.ts).
 */
import { createHmac, randomBytes } from "crypto";
import { isDeepStrictEqual } from "util";
import * as pulumi from "@pulumi/pulumi";
import type { CheckFailure, PropertyMap, ProviderHost } from "./engine-host";
import { PartialFailure, serializeProviderClosure, withoutUndefined } from "./engine-host";

export * from "./engine-host";

/** The value the engine sends for a property that is not known yet; only ever sent during a preview. */
export const UNKNOWN: string = pulumi.runtime.unknownValue;

/** A secret as the engine holds it (the SDK's wire form: a signature key plus the value). */
export interface SecretValue {
  readonly [pulumi.runtime.specialSigKey]: typeof pulumi.runtime.specialSecretSig;
  readonly value: unknown;
}

/** Marks an input secret, like `pulumi.secret(...)` in a program. */
export function secret(value: unknown): SecretValue {
  return { [pulumi.runtime.specialSigKey]: pulumi.runtime.specialSecretSig, value };
}

export function isSecret(value: unknown): value is SecretValue {
  return pulumi.runtime.isRpcSecret(value);
}

/** `dynamic.Resource`'s type token: `pulumi-nodejs:dynamic[/<module>]:<type>`. */
export function dynamicResourceType(module?: string, type = "Resource"): string {
  return `pulumi-nodejs:dynamic${module ? `/${module}` : ""}:${type}`;
}

export type PlanOp = "create" | "update" | "same" | "replace" | "failed";

export interface PreviewResult {
  /** "failed" when Check reported failures; the engine stops there and shows them. */
  readonly op: PlanOp;
  readonly failures: CheckFailure[];
  /** The Diff verdict after the engine's fallback for DIFF_UNKNOWN; true for a create. */
  readonly changes: boolean;
  /**
   * Top-level keys that differ between the stored inputs and the checked new inputs (plus any the provider named):
   * what `pulumi preview --diff` lists for a provider that reports no detailed diff, which the Node host never does.
   */
  readonly diffs: string[];
  readonly replaces: string[];
  /** The checked inputs the engine would go on with (unknowns and secrets as the engine holds them). */
  readonly inputs: PropertyMap;
}

export interface UpResult {
  readonly op: PlanOp;
  /** `undefined` when Check failed. */
  readonly outputs: PropertyMap | undefined;
  readonly failures: CheckFailure[];
}

export interface RefreshResult {
  /** As `pulumi refresh` reports it: "delete" when the provider returned id "". */
  readonly op: "same" | "update" | "delete";
  readonly changed: boolean;
  readonly outputs: PropertyMap | undefined;
  readonly inputs: PropertyMap | undefined;
}

/** One resource as the state file keeps it. */
export interface ResourceState {
  readonly id: string;
  /** The checked inputs; Diff and Update see them only as `oldInputs`. */
  readonly inputs: PropertyMap;
  /** What Read, Diff (as olds), Update (as olds) and Delete receive; holds `__provider`. */
  readonly outputs: PropertyMap;
  /** Reasons from a partial failure; while non-empty, the next `up` updates even when Diff reports no change. */
  readonly initErrors: string[];
}

export interface EngineStackOptions {
  /** The dynamic provider object, as passed to `dynamic.Resource`. */
  readonly provider: object;
  /** Type token; defaults to `dynamicResourceType()`. */
  readonly type?: string;
  /** Must match the host's project, which the host uses to resolve config keys. Defaults to it. */
  readonly project?: string;
  /** Stack name in URNs. Defaults to "test"; the host itself is never told it, as with the real engine. */
  readonly stack?: string;
  /** Stack config; keys without a namespace get `<project>:`, as `pulumi config set` stores them. */
  readonly config?: Readonly<Record<string, string>>;
  /** Outputs the resource's `additionalSecretOutputs` names; the engine marks them secret after every step. */
  readonly additionalSecretOutputs?: readonly string[];
}

interface Plan extends PreviewResult {
  readonly deleteBeforeReplace: boolean;
}

export class EngineStack {
  private readonly resources = new Map<string, ResourceState>();
  /** Old resources whose replacement failed part way; the engine deletes them at the start of the next update. */
  private readonly pendingDeletes = new Map<string, ResourceState[]>();
  private readonly type: string;
  private readonly project: string;
  private readonly stack: string;
  private readonly config: Readonly<Record<string, string>>;
  /** Only makes the ciphertext in `rawState` stable within one stack. */
  private readonly secretKey = randomBytes(32);
  private ready: Promise<string | SecretValue> | undefined;

  constructor(
    private readonly host: ProviderHost,
    private readonly options: EngineStackOptions,
  ) {
    this.type = options.type ?? dynamicResourceType();
    this.project = options.project ?? host.project;
    if (this.project !== host.project) {
      throw new Error(`project ${this.project} differs from the host's ${host.project}`);
    }
    this.stack = options.stack ?? "test";
    this.config = Object.fromEntries(
      Object.entries(options.config ?? {}).map(([key, value]) => [
        key.includes(":") ? key : `${this.project}:${key}`,
        value,
      ]),
    );
  }

  urn(name: string): string {
    return `urn:pulumi:${this.stack}::${this.project}::${this.type}::${name}`;
  }

  /** Check, then Diff against the stored state; never Create, Update or Delete. Inputs may hold UNKNOWN. */
  async preview(name: string, inputs: PropertyMap): Promise<PreviewResult> {
    const news = await this.programInputs(inputs);
    return publicPlan(await this.plan(name, this.resources.get(name), news));
  }

  /** Check, then Create, Update or replace as the plan says, recording state as the engine does. */
  async up(name: string, inputs: PropertyMap): Promise<UpResult> {
    const news = await this.programInputs(inputs);
    if (containsUnknowns(news)) {
      throw new Error(`${name}: unknown values exist only during a preview`);
    }
    await this.deletePending(name);
    const old = this.resources.get(name);
    const plan = await this.plan(name, old, news);
    switch (plan.op) {
      case "failed":
        return { op: plan.op, outputs: undefined, failures: plan.failures };
      case "same":
        // A same step records the new inputs (including a new __provider) but keeps the old outputs.
        this.resources.set(name, { ...old!, inputs: plan.inputs });
        return { op: plan.op, outputs: old!.outputs, failures: [] };
      case "create":
        return { op: plan.op, outputs: (await this.create(name, plan.inputs)).outputs, failures: [] };
      case "update":
        return { op: plan.op, outputs: (await this.update(name, old!, plan.inputs)).outputs, failures: [] };
      case "replace":
        return { op: plan.op, outputs: (await this.replace(name, old!, plan)).outputs, failures: [] };
    }
  }

  /** Read with the stored id, outputs and inputs; stores what Read returns. Id "" removes the resource. */
  async refresh(name: string): Promise<RefreshResult> {
    const old = this.required(name);
    const { state, changed } = await this.read(name, old);
    if (state === undefined) {
      this.resources.delete(name);
      return { op: "delete", changed: true, outputs: undefined, inputs: undefined };
    }
    this.resources.set(name, state);
    return { op: changed ? "update" : "same", changed, outputs: state.outputs, inputs: state.inputs };
  }

  /** `pulumi preview --refresh`: the plan is computed against the refreshed state, which is not persisted. */
  async previewRefresh(name: string, inputs: PropertyMap): Promise<PreviewResult> {
    const news = await this.programInputs(inputs);
    const old = this.resources.get(name);
    const refreshed = old === undefined ? undefined : (await this.read(name, old)).state;
    return publicPlan(await this.plan(name, refreshed, news));
  }

  /** Delete with the stored outputs, then forget the resource. */
  async destroy(name: string): Promise<void> {
    await this.deletePending(name);
    const old = this.resources.get(name);
    if (old !== undefined) {
      await this.host.delete(old.id, this.urn(name), reveal(old.outputs), reveal(old.inputs));
      this.resources.delete(name);
    }
  }

  /** What the state file holds for the resource, `__provider` included; secrets still marked (see `isSecret`). */
  state(name: string): ResourceState | undefined {
    const stored = this.resources.get(name);
    return stored === undefined ? undefined : structuredClone(stored);
  }

  /**
   * Everything stored, shaped like a state file's resources, with secrets replaced by opaque ciphertext as the
   * engine's secrets manager writes them. Any plaintext secret found here was stored unmarked: a leak.
   */
  rawState(): string {
    const entry = (name: string, state: ResourceState, pendingDelete: boolean) => ({
      urn: this.urn(name),
      custom: true,
      ...(pendingDelete ? { delete: true } : {}),
      id: state.id,
      type: this.type,
      inputs: this.encrypt(state.inputs),
      outputs: this.encrypt(state.outputs),
      ...(state.initErrors.length > 0 ? { initErrors: state.initErrors } : {}),
    });
    const resources = [
      ...[...this.resources].map(([name, state]) => entry(name, state, false)),
      ...[...this.pendingDeletes].flatMap(([name, states]) => states.map((state) => entry(name, state, true))),
    ];
    return JSON.stringify({ resources }, null, 2);
  }

  /** Configure once per host, and serialize the provider once per stack (dynamic.Resource caches it per object). */
  private async programInputs(inputs: PropertyMap): Promise<PropertyMap> {
    if ("__provider" in inputs) {
      throw new Error("A dynamic resource must not define the __provider key");
    }
    this.ready ??= (async () => {
      if (this.host.config === undefined) {
        await this.host.configure(this.config);
      } else if (!isDeepStrictEqual({ ...this.host.config }, this.config)) {
        throw new Error("the host was configured with other config; the engine starts one host per provider config");
      }
      const { text, containsSecrets } = await serializeProviderClosure(this.options.provider);
      return containsSecrets ? secret(text) : text;
    })();
    return { ...withoutUndefined(inputs), __provider: await this.ready };
  }

  /** The engine's step generator for one resource: Check, then Diff when there is old state. */
  private async plan(name: string, old: ResourceState | undefined, news: PropertyMap): Promise<Plan> {
    const urn = this.urn(name);
    const checked = await this.check(urn, old?.inputs ?? {}, news);
    const base = { failures: checked.failures, replaces: [], deleteBeforeReplace: false, inputs: checked.inputs };
    if (checked.failures.length > 0) {
      return { ...base, op: "failed", changes: false, diffs: [] };
    }
    if (old === undefined) {
      return { ...base, op: "create", changes: true, diffs: changedKeys({}, checked.inputs) };
    }
    const diff = await this.host.diff(old.id, urn, reveal(old.outputs), reveal(checked.inputs), reveal(old.inputs));
    // DIFF_UNKNOWN (no `diff` method): the engine compares old and new inputs, __provider included.
    const changes = diff.changes ?? !isDeepStrictEqual(old.inputs, checked.inputs);
    const diffs = [...new Set([...diff.diffs, ...changedKeys(old.inputs, checked.inputs)])];
    if (changes && diff.replaces.length > 0) {
      // A replacement recomputes defaults: Check again, without the old inputs.
      const rechecked = await this.check(urn, {}, news);
      return {
        op: rechecked.failures.length > 0 ? "failed" : "replace",
        failures: rechecked.failures,
        changes,
        diffs,
        replaces: diff.replaces,
        deleteBeforeReplace: diff.deleteBeforeReplace,
        inputs: rechecked.inputs,
      };
    }
    // A resource left with init errors by a partial failure is updated again even without changes.
    const op = changes || old.initErrors.length > 0 ? "update" : "same";
    return { ...base, op, changes, diffs };
  }

  /** The host refuses secrets, so they go out revealed and the engine re-marks same-named keys on the way back. */
  private async check(urn: string, olds: PropertyMap, news: PropertyMap) {
    const result = await this.host.check(urn, reveal(olds), reveal(news));
    return { inputs: annotateSecrets(result.inputs, news), failures: result.failures };
  }

  private async create(name: string, inputs: PropertyMap): Promise<ResourceState> {
    try {
      const { id, outputs } = await this.host.create(this.urn(name), reveal(inputs));
      return this.record(name, { id, inputs, outputs: annotateSecrets(outputs, inputs), initErrors: [] });
    } catch (error) {
      throw this.recordPartial(name, error, (failure) => failure.id, inputs);
    }
  }

  private async update(name: string, old: ResourceState, inputs: PropertyMap): Promise<ResourceState> {
    try {
      const { outputs } = await this.host.update(
        old.id,
        this.urn(name),
        reveal(old.outputs),
        reveal(inputs),
        reveal(old.inputs),
      );
      return this.record(name, { id: old.id, inputs, outputs: annotateSecrets(outputs, inputs), initErrors: [] });
    } catch (error) {
      // The engine keeps the old id and the OLD inputs on a partial update, with the outputs the error carries
      // (step.go's UpdateStep; test/cli/resume.test.ts sees the same through the real CLI).
      throw this.recordPartial(name, error, () => old.id, old.inputs);
    }
  }

  private async replace(name: string, old: ResourceState, plan: Plan): Promise<ResourceState> {
    const urn = this.urn(name);
    if (plan.deleteBeforeReplace) {
      await this.host.delete(old.id, urn, reveal(old.outputs), reveal(old.inputs));
      this.resources.delete(name);
      return this.create(name, plan.inputs);
    }
    let created: ResourceState;
    try {
      created = await this.create(name, plan.inputs);
    } catch (error) {
      if (error instanceof PartialFailure) {
        // The new resource now holds the name; the old one waits as a pending delete.
        this.deferDelete(name, old);
      }
      throw error;
    }
    try {
      await this.host.delete(old.id, urn, reveal(old.outputs), reveal(old.inputs));
    } catch (error) {
      this.deferDelete(name, old);
      throw error;
    }
    return created;
  }

  private deferDelete(name: string, old: ResourceState): void {
    this.pendingDeletes.set(name, [...(this.pendingDeletes.get(name) ?? []), old]);
  }

  private async deletePending(name: string): Promise<void> {
    const pending = this.pendingDeletes.get(name) ?? [];
    while (pending.length > 0) {
      const old = pending[0];
      await this.host.delete(old.id, this.urn(name), reveal(old.outputs), reveal(old.inputs));
      pending.shift();
    }
    this.pendingDeletes.delete(name);
  }

  /**
   * The engine's refresh step: Read with the stored inputs and outputs, keep the old inputs unless Read returned
   * some, clear init errors, and decide "changed" by diffing the refreshed state against the old inputs with the
   * provider's own Diff (the engine's refresh diff; older engines only compared outputs).
   */
  private async read(
    name: string,
    old: ResourceState,
  ): Promise<{ state: ResourceState | undefined; changed: boolean }> {
    const urn = this.urn(name);
    const result = await this.host.read(old.id, urn, reveal(old.outputs), reveal(old.inputs));
    if (result.id === "") {
      return { state: undefined, changed: true };
    }
    const state: ResourceState = {
      id: result.id,
      inputs: result.inputs === undefined ? old.inputs : annotateSecrets(result.inputs, old.inputs),
      outputs: this.protect(annotateSecrets(result.outputs, old.outputs)),
      initErrors: [],
    };
    const diff = await this.host.diff(state.id, urn, reveal(state.outputs), reveal(old.inputs), reveal(state.inputs));
    return { state, changed: diff.changes ?? !isDeepStrictEqual(state.inputs, old.inputs) };
  }

  private record(name: string, state: ResourceState): ResourceState {
    const protectedState = { ...state, outputs: this.protect(state.outputs) };
    this.resources.set(name, protectedState);
    return protectedState;
  }

  /** The engine's rule for `additionalSecretOutputs`: those outputs are stored secret whatever the inputs were. */
  private protect(outputs: PropertyMap): PropertyMap {
    const names = this.options.additionalSecretOutputs ?? [];
    return Object.fromEntries(
      Object.entries(outputs).map(([key, value]) => [
        key,
        names.includes(key) && !isSecret(value) ? secret(value) : value,
      ]),
    );
  }

  /** A partial failure's properties become the state, with its reasons as init errors; anything else records nothing. */
  private recordPartial(
    name: string,
    error: unknown,
    idOf: (failure: PartialFailure) => string,
    inputs: PropertyMap,
  ): unknown {
    if (error instanceof PartialFailure) {
      this.record(name, {
        id: idOf(error),
        inputs,
        outputs: annotateSecrets(error.properties, inputs),
        initErrors: error.reasons,
      });
    }
    return error;
  }

  private required(name: string): ResourceState {
    const stored = this.resources.get(name);
    if (stored === undefined) {
      throw new Error(`${name} is not in the stack's state`);
    }
    return stored;
  }

  private encrypt(value: unknown): unknown {
    if (isSecret(value)) {
      const ciphertext = createHmac("sha256", this.secretKey).update(JSON.stringify(value.value)).digest("base64");
      return { [pulumi.runtime.specialSigKey]: pulumi.runtime.specialSecretSig, ciphertext };
    }
    if (Array.isArray(value)) {
      return value.map((element) => this.encrypt(element));
    }
    if (isObject(value)) {
      return Object.fromEntries(Object.entries(value).map(([key, element]) => [key, this.encrypt(element)]));
    }
    return value;
  }
}

function publicPlan(plan: Plan): PreviewResult {
  const { op, failures, changes, diffs, replaces, inputs } = plan;
  return { op, failures, changes, diffs, replaces, inputs };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * What the engine sends a provider that does not accept secrets: plain values. Unknowns pass as they are: they exist
 * only in previews (the engine's KeepUnknowns), and `up` refuses them before anything is sent.
 */
function reveal(props: PropertyMap): PropertyMap {
  const plain = (value: unknown): unknown => {
    if (isSecret(value)) {
      return plain(value.value);
    }
    if (Array.isArray(value)) {
      return value.map(plain);
    }
    if (isObject(value)) {
      return Object.fromEntries(Object.entries(value).map(([key, element]) => [key, plain(element)]));
    }
    return value;
  };
  return plain(props) as PropertyMap;
}

/** Whether `value`, or anything nested in it, passes `test`. */
function contains(value: unknown, test: (value: unknown) => boolean): boolean {
  if (test(value)) {
    return true;
  }
  if (Array.isArray(value)) {
    return value.some((element) => contains(element, test));
  }
  return isObject(value) && Object.values(value).some((element) => contains(element, test));
}

function containsSecrets(value: unknown): boolean {
  return contains(value, isSecret);
}

function containsUnknowns(value: unknown): boolean {
  return contains(value, (v) => v === UNKNOWN);
}

/**
 * The engine's `annotateSecrets`: an output whose key matches an input containing a secret becomes secret; where
 * both are objects it recurses rather than marking the whole object.
 */
function annotateSecrets(outs: PropertyMap, ins: PropertyMap): PropertyMap {
  const result: PropertyMap = { ...outs };
  for (const [key, inValue] of Object.entries(ins)) {
    if (!(key in result)) {
      continue;
    }
    const outValue = result[key];
    if (isObject(outValue) && !isSecret(outValue) && isObject(inValue) && !isSecret(inValue)) {
      result[key] = annotateSecrets(outValue, inValue);
    } else if (!isSecret(outValue) && containsSecrets(inValue)) {
      result[key] = secret(outValue);
    }
  }
  return result;
}

function changedKeys(olds: PropertyMap, news: PropertyMap): string[] {
  const keys = new Set([...Object.keys(olds), ...Object.keys(news)]);
  return [...keys].filter((key) => !isDeepStrictEqual(olds[key], news[key])).sort();
}
