import { format } from "util";
import * as grpc from "@grpc/grpc-js";
import * as enginerpc from "@pulumi/pulumi/proto/engine_grpc_pb";
import * as engineproto from "@pulumi/pulumi/proto/engine_pb";

let pending: Promise<void> = Promise.resolve();

/**
 * Sends what the core prints with console.log (its progress lines) to the engine's Log service. The engine shows the
 * standard output of the dynamic-provider host, but keeps any other resource plugin's standard output for its debug
 * log only (sdk/go/common/resource/plugin/plugin.go, 3.248), so printed lines would never reach the user. Sent with no
 * URN, as the dynamic host's lines are shown, one after the other so they keep their order; a line the engine does
 * not take goes to standard error, which the engine also keeps.
 */
export function logToEngine(address: string): void {
  const client = new enginerpc.EngineClient(address, grpc.credentials.createInsecure());
  console.log = (...args: unknown[]) => {
    const message = format(...args);
    const request = new engineproto.LogRequest();
    request.setSeverity(engineproto.LogSeverity.INFO);
    request.setMessage(message);
    pending = pending.then(
      () =>
        new Promise<void>((resolve) =>
          client.log(request, (error) => {
            if (error) process.stderr.write(`${message}\n`);
            resolve();
          }),
        ),
    );
  };
}

/** Settles once every line logged so far has reached the engine: a reply waits for it, so no line trails its step. */
export function logged(): Promise<void> {
  return pending;
}

/** The engine's address: the last argument the engine starts a plugin with (flags such as `-v=9` come first). */
export function engineAddress(args: readonly string[]): string | undefined {
  const last = args[args.length - 1];
  return last !== undefined && /^[^\s-][^\s]*:\d+$/.test(last) ? last : undefined;
}
