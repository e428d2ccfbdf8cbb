/**
 * Members that misbehave on purpose, on 127.0.0.1 free ports: a `/metrics` server that drips, floods or goes silent,
 * and a gRPC Maintenance server whose Snapshot stream sends what a test scripts (too much, too little, a wrong hash,
 * nothing). Each counts what it sent and sees when the client hung up, so a test reads the member's side.
 */
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { createHash } from "crypto";
import * as http from "http";
import type { AddressInfo } from "net";
import * as path from "path";

/** How a fake `/metrics` answers: a byte every 50 ms forever, as fast as the socket takes, or headers then nothing. */
export type MetricsBehaviour = "drip" | "flood" | "silent";

export interface FakeMember {
  /** `http://127.0.0.1:<port>`. */
  readonly endpoint: string;
  /** Body bytes written to the client so far. */
  readonly sent: () => number;
  /** Resolves once the client closed the connection (or cancelled the stream). */
  readonly hungUp: Promise<void>;
  stop(): Promise<void>;
}

const FLOOD_CHUNK = Buffer.alloc(64 * 1024, "etcd_fake_series 1\n");

/** A member whose `/metrics` misbehaves as `behaviour` says, until the client hangs up. */
export async function startMetricsMember(behaviour: MetricsBehaviour): Promise<FakeMember> {
  let sent = 0;
  let hangUp!: () => void;
  const hungUp = new Promise<void>((resolve) => (hangUp = resolve));
  const timers = new Set<NodeJS.Timeout>();
  const server = http.createServer((request, response) => {
    response.writeHead(200, { "content-type": "text/plain" });
    response.flushHeaders();
    let open = true;
    response.on("close", () => {
      open = false;
      hangUp();
    });
    if (behaviour === "drip") {
      const timer = setInterval(() => {
        if (!open) return clearInterval(timer);
        response.write("#");
        sent += 1;
      }, 50);
      timers.add(timer);
    } else if (behaviour === "flood") {
      const pump = () => {
        while (open) {
          sent += FLOOD_CHUNK.length;
          if (!response.write(FLOOD_CHUNK)) return void response.once("drain", pump);
        }
      };
      pump();
    }
    void request;
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    sent: () => sent,
    hungUp,
    async stop() {
      for (const timer of timers) clearInterval(timer);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** One message of a scripted Snapshot stream: its bytes and the `remaining_bytes` it announces. */
export interface SnapshotMessage {
  readonly blob: Buffer;
  readonly remaining: number;
}

/**
 * The messages etcd sends for `db`: the database in `chunkBytes` pieces, each announcing what is left, then the
 * SHA-256 of the database as one more message announcing 0.
 */
export function snapshotMessages(db: Buffer, chunkBytes = 32 * 1024): SnapshotMessage[] {
  const messages: SnapshotMessage[] = [];
  for (let at = 0; at < db.length; at += chunkBytes) {
    const blob = db.subarray(at, at + chunkBytes);
    messages.push({ blob, remaining: db.length - at - blob.length });
  }
  messages.push({ blob: createHash("sha256").update(db).digest(), remaining: 0 });
  return messages;
}

/**
 * What a fake Snapshot stream does: send `messages`, then either end, keep sending `endless` (a member that never
 * stops), or stay open sending nothing (`hang`).
 */
export interface SnapshotScript {
  readonly messages: readonly SnapshotMessage[];
  readonly then: "end" | "endless" | "hang";
}

const RPC_PROTO = path.join(path.dirname(require.resolve("etcd3/package.json")), "proto", "rpc.proto");

/**
 * A gRPC member that answers Maintenance.Status (a leader of itself at revision 42) and Maintenance.Snapshot as
 * `script` says. `sent` counts the blob bytes the stream wrote; `hungUp` resolves when the client cancelled it.
 */
export async function startSnapshotMember(script: SnapshotScript): Promise<FakeMember> {
  const definition = protoLoader.loadSync(RPC_PROTO, { keepCase: true, longs: String, enums: String, defaults: true });
  const etcdserverpb = grpc.loadPackageDefinition(definition).etcdserverpb as grpc.GrpcObject;
  const maintenance = etcdserverpb.Maintenance as grpc.ServiceClientConstructor;
  let sent = 0;
  let hangUp!: () => void;
  const hungUp = new Promise<void>((resolve) => (hangUp = resolve));
  const header = { cluster_id: "1", member_id: "2", revision: "42", raft_term: "2" };
  const server = new grpc.Server();
  server.addService(maintenance.service, {
    Status: (_call: unknown, callback: grpc.sendUnaryData<unknown>) =>
      callback(null, { header, version: "3.6.0", dbSize: "1048576", leader: "2", raftIndex: "9", raftTerm: "2" }),
    Snapshot: (call: grpc.ServerWritableStream<unknown, unknown>) => {
      let open = true;
      call.on("cancelled", () => {
        open = false;
        hangUp();
      });
      const send = async () => {
        for (const message of script.messages) {
          if (!open) return;
          sent += message.blob.length;
          if (!call.write({ header, remaining_bytes: String(message.remaining), blob: message.blob })) {
            await new Promise((resolve) => call.once("drain", resolve));
          }
        }
        if (script.then === "end") return void call.end();
        if (script.then === "hang") return;
        const more = Buffer.alloc(64 * 1024, 7);
        while (open) {
          sent += more.length;
          if (!call.write({ header, remaining_bytes: "0", blob: more })) {
            await new Promise((resolve) => call.once("drain", resolve));
          }
        }
      };
      void send();
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error, bound) =>
      error ? reject(error) : resolve(bound),
    ),
  );
  return {
    endpoint: `http://127.0.0.1:${port}`,
    sent: () => sent,
    hungUp,
    async stop() {
      server.forceShutdown();
    },
  };
}
