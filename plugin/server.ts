/**
 * The plugin's face: the engine's resource-provider protocol (pulumirpc.ResourceProvider, over the gRPC stubs
 * @pulumi/pulumi ships under proto/), served over the same lifecycle as the dynamic providers
 * (provider/resources/). Served here rather than through `@pulumi/pulumi/provider`'s server, which drops provider
 * config, has no detailed diff and fails an import's Read. This face only translates: secrets unwrapped on the way
 * in and marked on the way out, the resource's name (from its URN) handed to the core for its progress lines, a
 * detailed diff from the inputs the core says changed, partial failures as the engine's ErrorResourceInitFailed.
 */
import * as path from "path";
import * as grpc from "@grpc/grpc-js";
import * as anyproto from "google-protobuf/google/protobuf/any_pb";
import * as emptyproto from "google-protobuf/google/protobuf/empty_pb";
import * as structproto from "google-protobuf/google/protobuf/struct_pb";
import * as plugproto from "@pulumi/pulumi/proto/plugin_pb";
import * as provrpc from "@pulumi/pulumi/proto/provider_grpc_pb";
import * as provproto from "@pulumi/pulumi/proto/provider_pb";
import * as statusproto from "@pulumi/pulumi/proto/status_pb";
import { PartialFailureError } from "../provider/errors";
import { compaction } from "../provider/resources/compaction";
import { quota } from "../provider/resources/quota";
import type { ResourceLifecycle } from "../provider/resources/lifecycle";
import { plain } from "../provider/values/plain";
import { logged } from "./engine-log";
import { importedState } from "./import";

/** The key and value that mark a secret in a property map (sdk/go/common/resource/sig). */
const SIG_KEY = "4dabf18193072939515e22adb298388d";
const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";

type Props = Record<string, unknown>;

/** One resource type the plugin serves. */
interface Served {
  readonly core: ResourceLifecycle<Props, Props>;
  /** Outputs stored encrypted whatever the inputs were: the credentials (the SDK's additionalSecretOutputs). */
  readonly secretOutputs: readonly string[];
}

/** The resource types, by token. */
export const SERVED: Readonly<Record<string, Served>> = {
  "etcdquota:index:EtcdQuota": {
    core: quota as unknown as ResourceLifecycle<Props, Props>,
    secretOutputs: ["tls", "password", "memberSpecs"],
  },
  "etcdquota:index:EtcdCompaction": {
    core: compaction as unknown as ResourceLifecycle<Props, Props>,
    secretOutputs: ["tls", "password"],
  },
};

/** Inputs stored encrypted whatever the program gives (the SDK's `withSecretCredentials`). */
const SECRET_INPUTS = ["tls", "password"];

function isSecret(value: unknown): value is { value: unknown } {
  return typeof value === "object" && value !== null && (value as Props)[SIG_KEY] === SECRET_SIG;
}

function secret(value: unknown): unknown {
  return isSecret(value) ? value : { [SIG_KEY]: SECRET_SIG, value };
}

/** `value` with every secret replaced by what it holds. */
function reveal(value: unknown): unknown {
  if (isSecret(value)) return reveal(value.value);
  if (Array.isArray(value)) return value.map(reveal);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, reveal(v)]));
  }
  return value;
}

function holdsSecret(value: unknown): boolean {
  if (isSecret(value)) return true;
  if (Array.isArray(value)) return value.some(holdsSecret);
  if (value !== null && typeof value === "object") return Object.values(value).some(holdsSecret);
  return false;
}

/**
 * A property map as the engine sent it: the plain values the core takes, and the top-level keys that held a secret
 * (secrecy is kept per top-level key, as the engine does for providers that take no secrets).
 */
function unwrap(struct: structproto.Struct | undefined): { values: Props; secrets: Set<string> } {
  const raw = (struct?.toJavaScript() ?? {}) as Props;
  return {
    values: reveal(raw) as Props,
    secrets: new Set(Object.keys(raw).filter((key) => holdsSecret(raw[key]))),
  };
}

/** A property map for the engine, each key in `secrets` marked secret. */
function wrap(values: Props, secrets: Iterable<string>): structproto.Struct {
  const out: Props = plain(values);
  for (const key of secrets) {
    if (out[key] !== undefined && out[key] !== null) out[key] = secret(out[key]);
  }
  return structproto.Struct.fromJavaScript(out as Record<string, never>);
}

/** The resource's name and stack, from its URN (`urn:pulumi:<stack>::<project>::<type>::<name>`). */
function urnParts(urn: string): { stack: string; name: string } {
  const parts = urn.split("::");
  return { stack: parts[0].replace(/^urn:pulumi:/, ""), name: parts[parts.length - 1] };
}

/**
 * The name for the core's progress lines, which the SDK classes pass as the `resourceName` input; the plugin knows
 * it from the URN, so it is given to the core on every call and never stored.
 */
function named(values: Props, urn: string): Props {
  return { ...values, resourceName: urnParts(urn).name };
}

function unnamed(values: Props): Props {
  return Object.fromEntries(Object.entries(values).filter(([key]) => key !== "resourceName"));
}

/**
 * `snapshot.path` as the SDK's `snapshotInput` makes it: `{stack}` and `{resource}` filled in, a relative path taken
 * from the program's folder (the engine starts plugins there).
 */
function withSnapshotPath(values: Props, urn: string): Props {
  const snapshot = values.snapshot as Props | undefined;
  if (typeof snapshot !== "object" || snapshot === null || typeof snapshot.path !== "string") return values;
  const { stack, name } = urnParts(urn);
  const filled = snapshot.path.split("{stack}").join(stack).split("{resource}").join(name);
  return { ...values, snapshot: { ...snapshot, path: path.resolve(filled) } };
}

function served(type: string): Served {
  const found = SERVED[type];
  if (found === undefined) throw new Error(`unknown resource type ${type}; this plugin serves ${Object.keys(SERVED)}`);
  return found;
}

/** The engine's form of a partial failure: the resource exists, with these properties, but failed part way. */
function partialFailure(error: PartialFailureError, secrets: Iterable<string>): grpc.ServiceError {
  const detail = new provproto.ErrorResourceInitFailed();
  detail.setId(error.id);
  detail.setProperties(wrap(unnamed(error.properties), secrets));
  detail.setReasonsList([...error.reasons]);
  const any = new anyproto.Any();
  any.pack(detail.serializeBinary(), "pulumirpc.ErrorResourceInitFailed");
  const status = new statusproto.Status();
  status.setCode(grpc.status.UNKNOWN);
  status.setMessage(error.message);
  status.addDetails(any);
  const metadata = new grpc.Metadata();
  metadata.add("grpc-status-details-bin", Buffer.from(status.serializeBinary()));
  return Object.assign(new Error(error.message), { code: grpc.status.UNKNOWN, details: error.message, metadata });
}

function failure(error: unknown, secrets: Iterable<string> = []): grpc.ServiceError {
  if (error instanceof PartialFailureError) return partialFailure(error, secrets);
  const message = error instanceof Error ? error.message : String(error);
  return Object.assign(new Error(message), {
    code: grpc.status.UNKNOWN,
    details: message,
    metadata: new grpc.Metadata(),
  });
}

type Call<Req> = grpc.ServerUnaryCall<Req, unknown>;
type Done<Res> = (error: grpc.ServiceError | null, response?: Res) => void;

function unimplemented(what: string) {
  return (_call: unknown, callback: Done<never>) =>
    callback(
      Object.assign(new Error(`${what} is not implemented`), {
        code: grpc.status.UNIMPLEMENTED,
        details: `${what} is not implemented`,
        metadata: new grpc.Metadata(),
      }),
    );
}

/** The protocol's handlers. */
export function providerService(schema: string, version: string): grpc.UntypedServiceImplementation {
  return {
    getPluginInfo(_call: unknown, callback: Done<plugproto.PluginInfo>) {
      const info = new plugproto.PluginInfo();
      info.setVersion(version);
      callback(null, info);
    },
    getSchema(_call: unknown, callback: Done<provproto.GetSchemaResponse>) {
      const response = new provproto.GetSchemaResponse();
      response.setSchema(schema);
      callback(null, response);
    },
    // The plugin takes no provider config: every setting is a resource input.
    checkConfig(call: Call<provproto.CheckRequest>, callback: Done<provproto.CheckResponse>) {
      const response = new provproto.CheckResponse();
      response.setInputs(call.request.getNews());
      callback(null, response);
    },
    diffConfig(_call: unknown, callback: Done<provproto.DiffResponse>) {
      const response = new provproto.DiffResponse();
      response.setChanges(provproto.DiffResponse.DiffChanges.DIFF_NONE);
      callback(null, response);
    },
    configure(_call: unknown, callback: Done<provproto.ConfigureResponse>) {
      const response = new provproto.ConfigureResponse();
      response.setAcceptsecrets(true);
      response.setAcceptresources(false);
      // As the dynamic providers: a preview never calls create or update.
      response.setSupportspreview(false);
      callback(null, response);
    },
    // As the dynamic providers' host: an operation in flight runs to its end (its own bounds apply).
    cancel(_call: unknown, callback: Done<emptyproto.Empty>) {
      callback(null, new emptyproto.Empty());
    },

    async check(call: Call<provproto.CheckRequest>, callback: Done<provproto.CheckResponse>) {
      try {
        const req = call.request;
        const { core } = served(req.getType());
        const olds = unwrap(req.getOlds());
        const news = unwrap(req.getNews());
        const given = withSnapshotPath(news.values, req.getUrn());
        const result = await core.check(named(olds.values, req.getUrn()), named(given, req.getUrn()));
        const response = new provproto.CheckResponse();
        response.setInputs(wrap(unnamed(result.inputs), [...news.secrets, ...SECRET_INPUTS]));
        response.setFailuresList(
          result.failures.map((f) => {
            const failure = new provproto.CheckFailure();
            failure.setProperty(f.property);
            failure.setReason(f.reason);
            return failure;
          }),
        );
        callback(null, response);
      } catch (error) {
        callback(failure(error));
      }
    },

    async diff(call: Call<provproto.DiffRequest>, callback: Done<provproto.DiffResponse>) {
      try {
        const req = call.request;
        const { core } = served(req.getType());
        const olds = unwrap(req.getOlds()).values;
        const news = unwrap(req.getNews()).values;
        const result = await core.diff(req.getId(), named(olds, req.getUrn()), named(news, req.getUrn()));
        const response = new provproto.DiffResponse();
        response.setChanges(
          result.changes ? provproto.DiffResponse.DiffChanges.DIFF_SOME : provproto.DiffResponse.DiffChanges.DIFF_NONE,
        );
        response.setDiffsList([...result.changed]);
        // Each changed input shown as the old input against the new one: `quota: "mixed: ..." => "8GiB"`.
        const detailed = response.getDetaileddiffMap();
        for (const key of result.changed) {
          const change = new provproto.PropertyDiff();
          change.setKind(provproto.PropertyDiff.Kind.UPDATE);
          change.setInputdiff(true);
          detailed.set(key, change);
        }
        response.setHasdetaileddiff(true);
        callback(null, response);
      } catch (error) {
        callback(failure(error));
      }
    },

    async create(call: Call<provproto.CreateRequest>, callback: Done<provproto.CreateResponse>) {
      const req = call.request;
      const { core, secretOutputs } = served(req.getType());
      const inputs = unwrap(req.getProperties());
      const secrets = [...inputs.secrets, ...secretOutputs];
      try {
        const result = await core.create(named(inputs.values, req.getUrn()));
        const response = new provproto.CreateResponse();
        response.setId(result.id);
        response.setProperties(wrap(unnamed(result.outs), secrets));
        callback(null, response);
      } catch (error) {
        callback(failure(error, secrets));
      }
    },

    async read(call: Call<provproto.ReadRequest>, callback: Done<provproto.ReadResponse>) {
      const req = call.request;
      try {
        const { core, secretOutputs } = served(req.getType());
        const state = unwrap(req.getProperties());
        const inputs = unwrap(req.getInputs());
        // An import's Read carries no state: the ID says where the cluster is (plugin/import.ts).
        const imported = Object.keys(state.values).length === 0 ? importedState(req.getType(), req.getId()) : undefined;
        const props = named(imported ?? state.values, req.getUrn());
        const result = await core.read(req.getId(), props);
        const response = new provproto.ReadResponse();
        response.setId(result.id);
        response.setProperties(wrap(unnamed(result.props), [...state.secrets, ...secretOutputs]));
        response.setInputs(wrap(unnamed(result.inputs), [...inputs.secrets, ...state.secrets, ...SECRET_INPUTS]));
        callback(null, response);
      } catch (error) {
        callback(failure(error));
      }
    },

    async update(call: Call<provproto.UpdateRequest>, callback: Done<provproto.UpdateResponse>) {
      const req = call.request;
      const { core, secretOutputs } = served(req.getType());
      const olds = unwrap(req.getOlds());
      const news = unwrap(req.getNews());
      const secrets = [...news.secrets, ...olds.secrets, ...secretOutputs];
      try {
        const result = await core.update(
          req.getId(),
          named(olds.values, req.getUrn()),
          named(news.values, req.getUrn()),
        );
        const response = new provproto.UpdateResponse();
        response.setProperties(wrap(unnamed(result.outs), secrets));
        callback(null, response);
      } catch (error) {
        callback(failure(error, secrets));
      }
    },

    async delete(call: Call<provproto.DeleteRequest>, callback: Done<emptyproto.Empty>) {
      try {
        const req = call.request;
        const { core } = served(req.getType());
        await core.delete(req.getId(), named(unwrap(req.getProperties()).values, req.getUrn()));
        callback(null, new emptyproto.Empty());
      } catch (error) {
        callback(failure(error));
      }
    },

    handshake: unimplemented("Handshake"),
    parameterize: unimplemented("Parameterize"),
    invoke: unimplemented("Invoke"),
    list(call: grpc.ServerWritableStream<unknown, unknown>) {
      call.emit("error", { code: grpc.status.UNIMPLEMENTED, details: "List is not implemented" });
    },
    call: unimplemented("Call"),
    construct: unimplemented("Construct"),
    attach: unimplemented("Attach"),
    getMapping: unimplemented("GetMapping"),
    getMappings: unimplemented("GetMappings"),
  };
}

/** Each handler's reply sent once the lines it logged have reached the engine (plugin/engine-log.ts). */
function afterLogged(service: grpc.UntypedServiceImplementation): grpc.UntypedServiceImplementation {
  return Object.fromEntries(
    Object.entries(service).map(([name, handler]) => [
      name,
      (call: unknown, callback?: Done<unknown>) =>
        (handler as (call: unknown, callback?: Done<unknown>) => void)(
          call,
          callback && ((error, response) => void logged().then(() => callback(error, response))),
        ),
    ]),
  ) as grpc.UntypedServiceImplementation;
}

/** Serves the protocol on 127.0.0.1 and prints the port, the engine's cue that the plugin is ready. */
export async function serve(schema: string, version: string): Promise<{ server: grpc.Server; port: number }> {
  const server = new grpc.Server({ "grpc.max_receive_message_length": 400 * 1024 * 1024 });
  server.addService(provrpc.ResourceProviderService, afterLogged(providerService(schema, version)));
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error, p) =>
      error ? reject(error) : resolve(p),
    ),
  );
  console.log(String(port));
  return { server, port };
}
