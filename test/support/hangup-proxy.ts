import * as fs from "fs";
import * as net from "net";

/** A TCP proxy in front of a member that hangs up on clients for a while once a file changes. */
export interface HangupProxy {
  /** `http://127.0.0.1:<port>`: give this as the member's endpoint. */
  readonly url: string;
  /** Connections it hung up on. */
  readonly hangups: () => number;
  close(): Promise<void>;
}

/**
 * Forwards every connection to `target` (`host:port`) until `file` changes; from then on, for `windowMs`, it
 * destroys open connections on their next byte and new ones as soon as they are accepted: what a client of a
 * member sees while a kubelet restarts it after its manifest changed ("socket hang up", ECONNRESET). The check is
 * made on every accept and every chunk, so a client that writes the file and then connects always meets it.
 */
export async function startHangupProxy(target: string, file: string, windowMs: number): Promise<HangupProxy> {
  const original = fs.readFileSync(file, "utf8");
  let changedAt: number | undefined;
  let hangups = 0;
  const hangingUp = () => {
    if (changedAt === undefined && fs.readFileSync(file, "utf8") !== original) changedAt = Date.now();
    return changedAt !== undefined && Date.now() - changedAt < windowMs;
  };
  const [host, port] = [target.slice(0, target.lastIndexOf(":")), Number(target.slice(target.lastIndexOf(":") + 1))];
  const sockets = new Set<net.Socket>();
  const hangUp = (...ends: net.Socket[]) => {
    hangups++;
    for (const end of ends) end.destroy();
  };
  const server = net.createServer((client) => {
    sockets.add(client);
    client.on("close", () => sockets.delete(client));
    if (hangingUp()) return hangUp(client);
    const upstream = net.connect(port, host);
    sockets.add(upstream);
    upstream.on("close", () => sockets.delete(upstream));
    client.on("data", (chunk) => (hangingUp() ? hangUp(client, upstream) : upstream.write(chunk)));
    upstream.on("data", (chunk) => client.write(chunk));
    client.on("error", () => upstream.destroy());
    upstream.on("error", () => client.destroy());
    client.on("end", () => upstream.end());
    upstream.on("end", () => client.end());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${address.port}`,
    hangups: () => hangups,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
