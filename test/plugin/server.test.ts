import * as assert from "node:assert/strict";
import type { ChildProcess } from "child_process";
import { spawn } from "child_process";
import * as path from "path";
import * as grpc from "@grpc/grpc-js";
import * as emptyproto from "google-protobuf/google/protobuf/empty_pb";
import * as structproto from "google-protobuf/google/protobuf/struct_pb";
import * as provrpc from "@pulumi/pulumi/proto/provider_grpc_pb";
import * as provproto from "@pulumi/pulumi/proto/provider_pb";
import { engineAddress } from "../../plugin/engine-log";
import { providers } from "../../provider";

/** The engine's wire forms (sdk/go/common/resource/sig, plugin.UnknownStringValue). */
const SIG_KEY = "4dabf18193072939515e22adb298388d";
const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";
const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";
const PEM = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUQ\n-----END CERTIFICATE-----\n";
const secret = (value: unknown) => ({ [SIG_KEY]: SECRET_SIG, value });

const QUOTA = "etcdquota:index:EtcdQuota";
const COMPACTION = "etcdquota:index:EtcdCompaction";
const urn = (type: string, name: string) => `urn:pulumi:dev::etcd-space::${type}::${name}`;
const struct = (value: object) => structproto.Struct.fromJavaScript(value as Record<string, never>);

describe("the plugin's protocol face (the built plugin, spoken to over gRPC as the engine does)", function () {
  this.timeout(60_000);
  let child: ChildProcess;
  let client: InstanceType<typeof provrpc.ResourceProviderClient>;

  before(async () => {
    // The compiled plugin (npm run build), started as the engine starts a plugin: its first stdout line is the port.
    child = spawn(process.execPath, [path.join(__dirname, "..", "..", "dist", "plugin", "main.js")], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    const port = await new Promise<string>((resolve, reject) => {
      child.stdout!.once("data", (d: Buffer) => resolve(d.toString().split("\n")[0].trim()));
      child.once("exit", (code) => reject(new Error(`the plugin exited with ${code}`)));
    });
    client = new provrpc.ResourceProviderClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  });
  after(() => {
    client?.close();
    if (child?.pid) process.kill(child.pid, "SIGKILL");
  });

  function call<Req, Res>(method: string, request: Req): Promise<Res> {
    return new Promise((resolve, reject) =>
      (client as unknown as Record<string, (r: Req, cb: (e: Error | null, r: Res) => void) => void>)[method](
        request,
        (error, response) => (error ? reject(error) : resolve(response)),
      ),
    );
  }

  function checkRequest(type: string, news: object): provproto.CheckRequest {
    const request = new provproto.CheckRequest();
    request.setUrn(urn(type, "r"));
    request.setType(type);
    request.setOlds(struct({}));
    request.setNews(struct(news));
    return request;
  }

  it("serves the schema and the package version, and takes secrets", async () => {
    const schema = await call<provproto.GetSchemaRequest, provproto.GetSchemaResponse>(
      "getSchema",
      new provproto.GetSchemaRequest(),
    );
    const parsed = JSON.parse(schema.getSchema());
    assert.deepEqual(Object.keys(parsed.resources).sort(), [COMPACTION, QUOTA]);
    const info = await call<emptyproto.Empty, { getVersion(): string }>("getPluginInfo", new emptyproto.Empty());
    assert.equal(info.getVersion(), require("../../package.json").version);
    const configured = await call<provproto.ConfigureRequest, provproto.ConfigureResponse>(
      "configure",
      new provproto.ConfigureRequest(),
    );
    assert.equal(configured.getAcceptsecrets(), true);
    assert.equal(configured.getSupportspreview(), false, "as the dynamic providers: no create or update in a preview");
  });

  it("refuses a bad input at check with the very failure the dynamic classes give", async () => {
    const news = { endpoints: ["http://127.0.0.1:2379"], retainRevisons: 3 };
    const response = await call<provproto.CheckRequest, provproto.CheckResponse>(
      "check",
      checkRequest(COMPACTION, news),
    );
    const dynamic = await providers.compaction.check!({}, { ...news, resourceName: "r" });
    assert.deepEqual(
      response.getFailuresList().map((f) => ({ property: f.getProperty(), reason: f.getReason() })),
      dynamic.failures,
    );
    assert.match(
      response.getFailuresList()[0].getReason(),
      /retainRevisons: unknown input; did you mean retainRevisions\?/,
    );
  });

  it("keeps credentials secret: a wrapped secret stays wrapped, a plaintext password comes back secret", async () => {
    const response = await call<provproto.CheckRequest, provproto.CheckResponse>(
      "check",
      checkRequest(QUOTA, {
        quota: "8GiB",
        // Not known until apply, so the check goes no further than the inputs.
        members: UNKNOWN,
        username: "root",
        password: "plain-password",
        tls: secret({ ca: PEM }),
      }),
    );
    assert.deepEqual(response.getFailuresList(), []);
    const inputs = response.getInputs()!.toJavaScript();
    assert.deepEqual(inputs.password, secret("plain-password"));
    assert.deepEqual(inputs.tls, secret({ ca: PEM }));
    assert.equal(inputs.username, "root");
    assert.equal("resourceName" in inputs, false, "the name comes from the URN and is not stored");
  });

  it("diffs with a detailed diff naming each changed input, shown as old input against new", async () => {
    const request = new provproto.DiffRequest();
    request.setUrn(urn(QUOTA, "quota"));
    request.setType(QUOTA);
    request.setId("etcd-quota-1");
    const members = [{ endpoint: "http://127.0.0.1:2379", configFile: "/etc/etcd.env" }];
    request.setOlds(struct({ quota: "mixed: m1 2 GiB, m2 4 GiB", memberSpecs: members, password: secret("pw") }));
    request.setNews(struct({ quota: "8GiB", members, password: secret("pw") }));
    const response = await call<provproto.DiffRequest, provproto.DiffResponse>("diff", request);
    assert.equal(response.getChanges(), provproto.DiffResponse.DiffChanges.DIFF_SOME);
    assert.deepEqual(response.getDiffsList(), ["quota"]);
    assert.equal(response.getHasdetaileddiff(), true);
    const detailed = response.getDetaileddiffMap();
    assert.equal(detailed.getLength(), 1);
    assert.equal(detailed.get("quota")?.getKind(), provproto.PropertyDiff.Kind.UPDATE);
    assert.equal(detailed.get("quota")?.getInputdiff(), true);
  });

  it("refuses an import ID that is not the cluster's client URLs, saying the format", async () => {
    const request = new provproto.ReadRequest();
    request.setUrn(urn(COMPACTION, "space"));
    request.setType(COMPACTION);
    request.setId("etcd-compaction-abc");
    await assert.rejects(
      call("read", request),
      /expected the cluster's client URLs, comma-separated \(http:\/\/10\.0\.0\.1:2379,http:\/\/10\.0\.0\.2:2379\)/,
    );
    request.setType(QUOTA);
    await assert.rejects(call("read", request), /EtcdQuota cannot be imported/);
  });

  it("finds the engine's address for its progress lines as the engine passes it: the last argument, after flags", () => {
    assert.equal(engineAddress(["127.0.0.1:40543"]), "127.0.0.1:40543");
    assert.equal(engineAddress(["--logtostderr", "-v=9", "--tracing", "file:/tmp/t", "127.0.0.1:1"]), "127.0.0.1:1");
    // Started by hand (as this suite starts it): no engine, the lines stay on standard output.
    assert.equal(engineAddress([]), undefined);
    assert.equal(engineAddress(["-v=9"]), undefined);
  });
});
