/**
 * The Pulumi engine's side of the dynamic-provider protocol, without the Pulumi CLI: spawns the SDK's own
 * dynamic-provider host (`@pulumi/pulumi/cmd/dynamic-provider`) and calls it over gRPC exactly as the engine's
 * provider plugin does (sdk/go/common/resource/plugin/provider_plugin.go).
 *
 * Properties go over the wire as plain Structs, the same conversion the host applies on its side
 * (`Struct.toJavaScript` / `Struct.fromJavaScript`). This layer sends what it is given; engine-side marshalling
 * (secrets revealed because the host refuses them, unknowns only in previews) is EngineStack's job.
 */
import type { ChildProcess } from "child_process";
import { spawn } from "child_process";
import * as readline from "readline";
import * as grpc from "@grpc/grpc-js";
import * as pulumi from "@pulumi/pulumi";
import { ResourceProviderClient } from "@pulumi/pulumi/proto/provider_grpc_pb";
import * as provproto from "@pulumi/pulumi/proto/provider_pb";
import * as statusproto from "@pulumi/pulumi/proto/status_pb";
import { type JavaScriptValue, Struct } from "google-protobuf/google/protobuf/struct_pb";
import { REPO_ROOT } from "../../lab/etcd-binary";

/** A resource's properties as they cross the wire: JSON values, with `__provider` among them. */
export type PropertyMap = Record<string, unknown>;

export interface ProviderHostOptions {
  /** Working directory of the host; the engine uses the program directory. Defaults to the repository root. */
  readonly cwd?: string;
  /** Extra environment for the host, applied last. */
  readonly env?: Readonly<NodeJS.ProcessEnv>;
  /** Project name the engine passes as PULUMI_NODEJS_PROJECT; `Config.get` in `configure` resolves keys with it. */
  readonly project?: string;
  /**
   * The provider program node runs, given the engine's address: by default the SDK's dynamic-provider host; the
   * plugin's server (dist/plugin/main.js) speaks the same protocol, secrets and all.
   */
  readonly script?: string;
  /** How long to wait for the host to print its port. */
  readonly startTimeoutMs?: number;
  /**
   * Deadline for each call. The real engine sets none and ignores timeouts (providers must bound their own waits);
   * a test must not hang, so the stand-in does.
   */
  readonly callTimeoutMs?: number;
}

export interface CheckFailure {
  readonly property: string;
  readonly reason: string;
}

export interface CheckResult {
  readonly inputs: PropertyMap;
  readonly failures: CheckFailure[];
}

export interface DiffResult {
  /** `undefined` is DIFF_UNKNOWN: the provider has no `diff` (or returned no `changes`); the engine decides. */
  readonly changes: boolean | undefined;
  readonly replaces: string[];
  readonly deleteBeforeReplace: boolean;
  /** Changed keys reported by the provider. The Node host never fills this in. */
  readonly diffs: string[];
  /** The detailed diff by property path, when the provider gives one (the plugin does; the Node host never). */
  readonly detailedDiff: Record<string, { readonly kind: provproto.PropertyDiff.Kind; readonly inputDiff: boolean }>;
}

export interface ReadResult {
  /** "" when the provider reports the resource gone. */
  readonly id: string;
  readonly outputs: PropertyMap;
  /** Only present when the provider's `read` returned `inputs` (SDK >= 3.216). */
  readonly inputs: PropertyMap | undefined;
}

/**
 * A create or update that failed part way: the host packs an error carrying `id`, `properties` and `reasons` into
 * an `ErrorResourceInitFailed` status detail, and the engine stores `properties` as the resource's state.
 */
export class PartialFailure extends Error {
  constructor(
    message: string,
    readonly id: string,
    readonly properties: PropertyMap,
    readonly reasons: string[],
  ) {
    super(message);
    this.name = "PartialFailure";
  }
}

/** Any other error the host answered with; `message` is the provider's own message. */
export class ProviderCallError extends Error {
  constructor(
    readonly method: string,
    readonly code: grpc.status,
    message: string,
  ) {
    super(message);
    this.name = "ProviderCallError";
  }
}

/** The serialized provider and whether the closure captured a secret (the engine then stores it as a secret). */
export interface SerializedProvider {
  readonly text: string;
  readonly containsSecrets: boolean;
}

/** What `dynamic.Resource` computes for `__provider` (dynamic/index.js `serializeFunctionMaybeSecret`). */
export async function serializeProviderClosure(provider: object): Promise<SerializedProvider> {
  const serialized = await pulumi.runtime.serializeFunction(() => provider, { allowSecrets: true });
  return { text: serialized.text, containsSecrets: serialized.containsSecrets };
}

/** The same text `dynamic.Resource` puts in `__provider`. */
export async function serializeProvider(provider: object): Promise<string> {
  return (await serializeProviderClosure(provider)).text;
}

/** The host never connects back to the engine, so any address does; the engine passes its own. */
const ENGINE_ADDRESS = "127.0.0.1:1";
const HOST_SCRIPT = require.resolve("@pulumi/pulumi/cmd/dynamic-provider");
/** The SDK's own gRPC limit (runtime/settings.js); `__provider` texts can be large. */
const MAX_MESSAGE_BYTES = 400 * 1024 * 1024;

export class ProviderHost {
  private readonly client: ResourceProviderClient;
  private configuredWith: Readonly<Record<string, string>> | undefined;
  private readonly safetyKill = (): void => {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill("SIGKILL");
    }
  };

  private constructor(
    private readonly child: ChildProcess,
    readonly pid: number,
    readonly port: number,
    readonly project: string,
    /** Everything the host wrote but its port line, stdout and stderr interleaved: the engine's diagnostics. */
    readonly logs: string[],
    private readonly callTimeoutMs: number,
    /** The dynamic-provider host, which refuses secrets and previews (EngineStack relies on both). */
    private readonly dynamic: boolean,
  ) {
    this.client = new ResourceProviderClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), {
      "grpc.max_receive_message_length": MAX_MESSAGE_BYTES,
      "grpc.max_send_message_length": MAX_MESSAGE_BYTES,
    });
    process.on("exit", this.safetyKill);
  }

  /** Spawns `node <dynamic-provider> <engine>` the way the engine's plugin loader does and waits for its port. */
  static async start(options: ProviderHostOptions = {}): Promise<ProviderHost> {
    const project = options.project ?? "etcd-quota-test";
    const child = spawn(process.execPath, [options.script ?? HOST_SCRIPT, ENGINE_ADDRESS], {
      cwd: options.cwd ?? REPO_ROOT,
      // The engine sets these two for pulumi-nodejs (and no stack name), on top of its own environment.
      env: { ...process.env, PULUMI_NODEJS_PROJECT: project, PULUMI_PROJECT: project, ...options.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    // Registered before anything can fail, so a rejected start never leaves the process behind.
    const earlyKill = (): void => void child.kill("SIGKILL");
    process.on("exit", earlyKill);
    const logs: string[] = [];
    readline.createInterface({ input: child.stderr! }).on("line", (line) => logs.push(line));
    const stdout = readline.createInterface({ input: child.stdout! });
    try {
      const port = await waitForPort(child, stdout, logs, options.startTimeoutMs ?? 30_000);
      stdout.on("line", (line) => logs.push(line));
      // An unhandled 'error' event would crash the test process.
      child.on("error", (error) => logs.push(`host process error: ${error.message}`));
      const dynamic = options.script === undefined;
      return new ProviderHost(child, child.pid!, port, project, logs, options.callTimeoutMs ?? 60_000, dynamic);
    } catch (error) {
      child.kill("SIGKILL");
      throw error;
    } finally {
      process.off("exit", earlyKill);
    }
  }

  /** The config the host was configured with, or `undefined` before `configure`. */
  get config(): Readonly<Record<string, string>> | undefined {
    return this.configuredWith;
  }

  /**
   * Sends the stack's config as the engine does for dynamic providers: every key, namespaced (`project:key`), in
   * `args`, and under `pulumi-nodejs:config:<key>` in `variables`. The host hands `args` to `provider.configure`.
   */
  async configure(config: Readonly<Record<string, string>>): Promise<void> {
    const req = new provproto.ConfigureRequest();
    req.setArgs(Struct.fromJavaScript({ ...config }));
    for (const [key, value] of Object.entries(config)) {
      req.getVariablesMap().set(`pulumi-nodejs:config:${key}`, value);
    }
    req.setAcceptsecrets(true).setAcceptresources(true).setSendsOldInputs(true).setSendsOldInputsToDelete(true);
    const resp = await this.call<provproto.ConfigureResponse>("Configure", (opts, cb) =>
      this.client.configure(req, new grpc.Metadata(), opts, cb),
    );
    if (this.dynamic && (resp.getAcceptsecrets() || resp.getSupportspreview())) {
      // EngineStack relies on both being false: secrets are sent revealed, and Create/Update never run in previews.
      throw new Error("the dynamic-provider host unexpectedly accepts secrets or supports previews");
    }
    this.configuredWith = { ...config };
  }

  async check(urn: string, olds: PropertyMap, news: PropertyMap): Promise<CheckResult> {
    const req = new provproto.CheckRequest();
    setIdentity(req, urn);
    req.setOlds(toStruct(olds)).setNews(toStruct(news));
    const resp = await this.call<provproto.CheckResponse>("Check", (opts, cb) =>
      this.client.check(req, new grpc.Metadata(), opts, cb),
    );
    return {
      inputs: resp.getInputs()?.toJavaScript() ?? {},
      failures: resp.getFailuresList().map((f) => ({ property: f.getProperty(), reason: f.getReason() })),
    };
  }

  /** `olds` are the old OUTPUTS, as the engine sends them; `oldInputs` ride along in their own field. */
  async diff(
    id: string,
    urn: string,
    olds: PropertyMap,
    news: PropertyMap,
    oldInputs: PropertyMap = {},
  ): Promise<DiffResult> {
    const req = new provproto.DiffRequest();
    setIdentity(req, urn);
    req.setId(id).setOlds(toStruct(olds)).setNews(toStruct(news)).setOldInputs(toStruct(oldInputs));
    const resp = await this.call<provproto.DiffResponse>("Diff", (opts, cb) =>
      this.client.diff(req, new grpc.Metadata(), opts, cb),
    );
    const changes = resp.getChanges();
    return {
      changes:
        changes === provproto.DiffResponse.DiffChanges.DIFF_SOME
          ? true
          : changes === provproto.DiffResponse.DiffChanges.DIFF_NONE
            ? false
            : undefined,
      replaces: resp.getReplacesList(),
      deleteBeforeReplace: resp.getDeletebeforereplace(),
      diffs: resp.getDiffsList(),
      detailedDiff: detailedDiffOf(resp),
    };
  }

  /**
   * The engine never sends `preview: true` to this host (it does not report `supportsPreview`); the flag exists to
   * show what would happen if something did: the host ignores it and really creates.
   */
  async create(
    urn: string,
    inputs: PropertyMap,
    options: { readonly preview?: boolean } = {},
  ): Promise<{ id: string; outputs: PropertyMap }> {
    const req = new provproto.CreateRequest();
    setIdentity(req, urn);
    req.setProperties(toStruct(inputs)).setPreview(options.preview ?? false);
    const resp = await this.call<provproto.CreateResponse>("Create", (opts, cb) =>
      this.client.create(req, new grpc.Metadata(), opts, cb),
    );
    return { id: resp.getId(), outputs: resp.getProperties()?.toJavaScript() ?? {} };
  }

  /** `props` are the stored outputs and `inputs` the stored inputs, as in a refresh. */
  async read(id: string, urn: string, props: PropertyMap, inputs?: PropertyMap): Promise<ReadResult> {
    const req = new provproto.ReadRequest();
    setIdentity(req, urn);
    req.setId(id).setProperties(toStruct(props));
    if (inputs !== undefined) {
      req.setInputs(toStruct(inputs));
    }
    const resp = await this.call<provproto.ReadResponse>("Read", (opts, cb) =>
      this.client.read(req, new grpc.Metadata(), opts, cb),
    );
    return {
      id: resp.getId(),
      outputs: resp.getProperties()?.toJavaScript() ?? {},
      inputs: resp.getInputs()?.toJavaScript(),
    };
  }

  /** `olds` are the old OUTPUTS; `news` the checked new inputs. */
  async update(
    id: string,
    urn: string,
    olds: PropertyMap,
    news: PropertyMap,
    oldInputs: PropertyMap = {},
  ): Promise<{ outputs: PropertyMap }> {
    const req = new provproto.UpdateRequest();
    setIdentity(req, urn);
    req.setId(id).setOlds(toStruct(olds)).setNews(toStruct(news)).setOldInputs(toStruct(oldInputs));
    const resp = await this.call<provproto.UpdateResponse>("Update", (opts, cb) =>
      this.client.update(req, new grpc.Metadata(), opts, cb),
    );
    return { outputs: resp.getProperties()?.toJavaScript() ?? {} };
  }

  /** The host passes only `outputs` to the provider; old inputs are sent because the engine sends them. */
  async delete(id: string, urn: string, outputs: PropertyMap, oldInputs: PropertyMap = {}): Promise<void> {
    const req = new provproto.DeleteRequest();
    setIdentity(req, urn);
    req.setId(id).setProperties(toStruct(outputs)).setOldInputs(toStruct(oldInputs));
    await this.call("Delete", (opts, cb) => this.client.delete(req, new grpc.Metadata(), opts, cb));
  }

  /** Closes the channel, then ends the process by its pid and waits until it has exited. */
  async stop(): Promise<void> {
    this.client.close();
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = new Promise<void>((resolve) => this.child.once("exit", () => resolve()));
      process.kill(this.pid, "SIGTERM");
      const stillRunning = await Promise.race([
        exited.then(() => false),
        new Promise<boolean>((resolve) => setTimeout(() => resolve(true), 5_000).unref()),
      ]);
      if (stillRunning) {
        process.kill(this.pid, "SIGKILL");
        await exited;
      }
    }
    process.off("exit", this.safetyKill);
  }

  private call<Response>(
    method: string,
    invoke: (
      options: grpc.CallOptions,
      callback: (error: grpc.ServiceError | null, response: Response) => void,
    ) => void,
  ): Promise<Response> {
    if (this.configuredWith === undefined && method !== "Configure") {
      // The host would otherwise hand `provider.configure` an undefined config.
      return Promise.reject(new Error(`${method} before Configure: the engine always configures first`));
    }
    return new Promise((resolve, reject) => {
      invoke({ deadline: Date.now() + this.callTimeoutMs }, (error, response) =>
        error ? reject(decodeError(method, error)) : resolve(response),
      );
    });
  }
}

/** The host's first stdout line is its port; a spawn error, an early exit or the timeout end the wait instead. */
function waitForPort(
  child: ChildProcess,
  stdout: readline.Interface,
  logs: readonly string[],
  timeoutMs: number,
): Promise<number> {
  return new Promise((resolve, reject) => {
    const settle = (outcome: () => void): void => {
      clearTimeout(timer);
      child.off("exit", onExit);
      child.off("error", onError);
      stdout.off("line", onLine);
      outcome();
    };
    const fail = (problem: string) => () => reject(new Error(`dynamic-provider host ${problem}:\n${logs.join("\n")}`));
    const onExit = (code: number | null, signal: string | null): void =>
      settle(fail(`exited (code ${code}, signal ${signal}) before printing a port`));
    const onError = (error: Error): void => settle(() => reject(error));
    const onLine = (line: string): void => {
      const port = Number(line.trim());
      settle(
        Number.isInteger(port) && port > 0
          ? () => resolve(port)
          : fail(`printed ${JSON.stringify(line)} where its port was expected`),
      );
    };
    const timer = setTimeout(() => settle(fail(`printed no port within ${timeoutMs} ms`)), timeoutMs);
    child.once("exit", onExit);
    child.once("error", onError);
    stdout.once("line", onLine);
  });
}

function detailedDiffOf(resp: provproto.DiffResponse): DiffResult["detailedDiff"] {
  const out: Record<string, DiffResult["detailedDiff"][string]> = {};
  resp
    .getDetaileddiffMap()
    .forEach((diff, key) => (out[key] = { kind: diff.getKind(), inputDiff: diff.getInputdiff() }));
  return out;
}

/** The engine fills in name and type from the URN (`urn:pulumi:stack::project::type::name`). */
function setIdentity(
  req: { setUrn(urn: string): unknown; setName(name: string): unknown; setType(type: string): unknown },
  urn: string,
): void {
  const parts = urn.split("::");
  req.setUrn(urn);
  req.setName(parts[parts.length - 1]);
  req.setType(parts[2] ?? "");
}

/** A JSON round trip drops `undefined` the way the SDK's serialization does: the engine's property maps hold none. */
export function withoutUndefined(props: PropertyMap): Record<string, JavaScriptValue> {
  return JSON.parse(JSON.stringify(props));
}

function toStruct(props: PropertyMap): Struct {
  return Struct.fromJavaScript(withoutUndefined(props));
}

/** The host packs partial failures into `grpc-status-details-bin`, as the Go engine's `status.FromError` expects. */
function decodeError(method: string, error: grpc.ServiceError): Error {
  for (const raw of error.metadata?.get("grpc-status-details-bin") ?? []) {
    const status = statusproto.Status.deserializeBinary(new Uint8Array(raw as Buffer));
    for (const detail of status.getDetailsList()) {
      const failed = detail.unpack(
        provproto.ErrorResourceInitFailed.deserializeBinary,
        "pulumirpc.ErrorResourceInitFailed",
      );
      if (failed) {
        return new PartialFailure(
          status.getMessage(),
          failed.getId(),
          failed.getProperties()?.toJavaScript() ?? {},
          failed.getReasonsList(),
        );
      }
    }
  }
  return new ProviderCallError(method, error.code, error.details);
}
