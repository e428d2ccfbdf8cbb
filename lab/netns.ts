import { type ChildProcess, execFileSync, spawn } from "child_process";
import { createHash, randomBytes } from "crypto";
import * as fs from "fs";
import * as path from "path";
import { CACHE_ROOT, REPO_ROOT } from "./etcd-binary";

/** One machine of a {@link LabNetwork}: a network namespace with its own address. */
export interface LabHost {
  /** `h1`, `h2`, ... */
  readonly name: string;
  /** The network namespace (`ip netns exec <namespace> ...` runs a program on this host). */
  readonly namespace: string;
  /** The host's address on the lab network, in 198.18.0.0/15. */
  readonly address: string;
  /** The veth end on the bridge, in this process's namespace: taking it down cuts the host off the network. */
  readonly link: string;
}

/** A slow, lossy link: what tc's netem would give, made by lab/impair-link (this kernel may have no netem). */
export interface LinkImpairment {
  /** Delay added to every frame in each direction: the round trip grows by twice this. */
  readonly delayMs: number;
  /** Share of frames dropped in each direction, e.g. 0.01. */
  readonly loss: number;
}

/** How {@link LabNetwork.create} builds a network. */
export interface LabNetworkOptions {
  /** Number of hosts, named h1, h2, ... (default 3). */
  readonly hosts?: number;
  /** Hosts whose link is slow and lossy for the network's whole life, by name (`h3`). */
  readonly impaired?: Readonly<Record<string, LinkImpairment>>;
  /** Receives one line per change to the network. */
  readonly log?: (line: string) => void;
}

// RFC 2544's benchmarking range: never routed on the internet, so a test can own a /24 of it without touching
// anyone's traffic. Every address the lab gives out comes from here.
const NETWORK_PREFIX = "198.18";
const HOST_OFFSET = 10;

/** iproute2's `ip`, by path: the lab's supervisor starts members with a bare environment and no PATH. */
export const IP_COMMAND = "/usr/sbin/ip";

const live = new Set<LabNetwork>();
let exitHookInstalled = false;

/**
 * Machines on a network for tests: a bridge in this process's namespace with one address (the machine running
 * Pulumi), and per host a network namespace joined to it by a veth pair, each with its own address in a /24 of
 * 198.18.0.0/15. etcd and sshd started in a host's namespace listen on that host's address like on a real machine,
 * members talk to each other through the bridge, and a link taken down or a route blackholed is a real network
 * fault. Needs root and iproute2. {@link remove} deletes every namespace, link and route it made; so does the exit
 * of this process.
 */
export class LabNetwork {
  private readonly blackholes = new Set<string>();
  private readonly relays: ChildProcess[] = [];

  private constructor(
    /** The bridge's name. */
    readonly bridge: string,
    /** This machine's own address on the bridge: where the provider's connections come from. */
    readonly gateway: string,
    readonly hosts: readonly LabHost[],
    private readonly log: (line: string) => void,
  ) {}

  static async create(options: LabNetworkOptions = {}): Promise<LabNetwork> {
    if (process.getuid?.() !== 0) throw new Error("the lab network needs root (network namespaces, veth, a bridge)");
    const count = options.hosts ?? 3;
    const log = options.log ?? (() => undefined);
    const id = randomBytes(2).toString("hex");
    const subnet = freeSubnet();
    const bridge = `epq${id}br`;
    const gateway = `${NETWORK_PREFIX}.${subnet}.1`;
    const hosts = Array.from({ length: count }, (_, i) => ({
      name: `h${i + 1}`,
      namespace: `epq-${id}-h${i + 1}`,
      address: `${NETWORK_PREFIX}.${subnet}.${HOST_OFFSET + i + 1}`,
      link: `epq${id}h${i + 1}`,
    }));
    const network = new LabNetwork(bridge, gateway, hosts, log);
    live.add(network);
    installExitHook();
    try {
      ip("link", "add", bridge, "type", "bridge");
      ip("addr", "add", `${gateway}/24`, "dev", bridge);
      ip("link", "set", bridge, "up");
      for (const host of hosts) {
        ip("netns", "add", host.namespace);
        const impairment = options.impaired?.[host.name];
        if (impairment) {
          // Two TAP devices joined by the relay instead of a veth pair; the relay attaches to both before one moves.
          ip("tuntap", "add", "dev", host.link, "mode", "tap");
          ip("tuntap", "add", "dev", `${host.link}p`, "mode", "tap");
          network.relays.push(await startRelay(host, impairment));
          log(`${host.name}: link delayed ${impairment.delayMs} ms and losing ${impairment.loss * 100}% each way`);
        } else {
          ip("link", "add", host.link, "type", "veth", "peer", "name", `${host.link}p`);
        }
        ip("link", "set", `${host.link}p`, "netns", host.namespace);
        ip("link", "set", host.link, "master", bridge);
        ip("link", "set", host.link, "up");
        inNamespace(host, "ip", "link", "set", "lo", "up");
        inNamespace(host, "ip", "link", "set", `${host.link}p`, "name", "eth0");
        inNamespace(host, "ip", "addr", "add", `${host.address}/24`, "dev", "eth0");
        inNamespace(host, "ip", "link", "set", "eth0", "up");
      }
    } catch (error) {
      network.remove();
      throw error;
    }
    log(
      `network ${NETWORK_PREFIX}.${subnet}.0/24 on ${bridge}: ${hosts.map((h) => `${h.name} ${h.address}`).join(", ")}`,
    );
    return network;
  }

  host(name: string): LabHost {
    const host = this.hosts.find((h) => h.name === name);
    if (!host) throw new Error(`no host ${name} in the lab network`);
    return host;
  }

  /** Takes the host's link down: it reaches nobody and nobody reaches it, as when a cable or a switch port fails. */
  cut(host: LabHost): void {
    ip("link", "set", host.link, "down");
    this.log(`${host.name}: link down`);
  }

  /** Brings the host's link back up. */
  restore(host: LabHost): void {
    ip("link", "set", host.link, "up");
    this.log(`${host.name}: link up`);
  }

  /**
   * Drops every packet this machine sends to `host` (a blackhole route), while the hosts still reach each other:
   * the provider loses one member, the cluster does not.
   */
  cutFromHere(host: LabHost): void {
    ip("route", "add", "blackhole", `${host.address}/32`);
    this.blackholes.add(host.address);
    this.log(`${host.name}: unreachable from this machine`);
  }

  /** Undoes {@link cutFromHere}. */
  restoreFromHere(host: LabHost): void {
    if (!this.blackholes.delete(host.address)) return;
    ip("route", "del", "blackhole", `${host.address}/32`);
    this.log(`${host.name}: reachable from this machine again`);
  }

  /**
   * Deletes the routes, links, namespaces and the bridge. Processes still running in a namespace keep it alive
   * unseen, so stop them first (the lab stops its members and sshd by pid). Safe to call twice.
   */
  remove(): void {
    for (const relay of this.relays.splice(0)) relay.kill("SIGKILL");
    for (const address of this.blackholes) tryIp("route", "del", "blackhole", `${address}/32`);
    this.blackholes.clear();
    for (const host of this.hosts) {
      tryIp("link", "del", host.link);
      tryIp("netns", "del", host.namespace);
    }
    tryIp("link", "del", this.bridge);
    live.delete(this);
  }
}

/** Starts lab/impair-link between the host's two TAP devices; resolves once it has attached to both. */
async function startRelay(host: LabHost, impairment: LinkImpairment): Promise<ChildProcess> {
  const relay = spawn(
    impairLinkBinary(),
    ["-a", host.link, "-b", `${host.link}p`, "-delay", `${impairment.delayMs}ms`, "-loss", String(impairment.loss)],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let output = "";
  relay.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  relay.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`impair-link did not start: ${output}`)), 10_000);
    relay.stdout!.on("data", () => {
      if (output.includes("ready")) {
        clearTimeout(timer);
        resolve();
      }
    });
    relay.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`impair-link exited with ${code}: ${output}`));
    });
  });
  relay.unref();
  return relay;
}

/** lab/impair-link built with Go into the lab's cache, once per version of its source. */
function impairLinkBinary(): string {
  const source = path.join(REPO_ROOT, "lab", "impair-link");
  const digest = createHash("sha256")
    .update(fs.readFileSync(path.join(source, "main.go")))
    .update(fs.readFileSync(path.join(source, "go.mod")))
    .digest("hex")
    .slice(0, 16);
  const binary = path.join(CACHE_ROOT, "impair-link", digest, "impair-link");
  if (!fs.existsSync(binary)) {
    execFileSync("go", ["build", "-o", binary, "."], { cwd: source, stdio: ["ignore", "ignore", "pipe"] });
  }
  return binary;
}

function inNamespace(host: LabHost, ...argv: string[]): void {
  execFileSync(IP_COMMAND, ["netns", "exec", host.namespace, ...argv], { stdio: ["ignore", "ignore", "pipe"] });
}

function ip(...args: string[]): void {
  try {
    execFileSync(IP_COMMAND, args, { stdio: ["ignore", "ignore", "pipe"] });
  } catch (error) {
    const stderr = (error as { stderr?: Buffer }).stderr?.toString().trim();
    throw new Error(`ip ${args.join(" ")} failed: ${stderr || String(error)}`);
  }
}

function tryIp(...args: string[]): void {
  try {
    ip(...args);
  } catch {
    // Already gone: deleting a veth end deletes its peer, and a failed create leaves parts missing.
  }
}

/** A /24 of 198.18.0.0/16 that no interface here uses yet (parallel runs each get their own). */
function freeSubnet(): number {
  const used = execFileSync(IP_COMMAND, ["-o", "-4", "addr", "show"], { encoding: "utf8" });
  for (let attempt = 0; attempt < 50; attempt++) {
    const subnet = 1 + Math.floor(Math.random() * 254);
    if (!used.includes(` ${NETWORK_PREFIX}.${subnet}.`)) return subnet;
  }
  throw new Error(`no free /24 left in ${NETWORK_PREFIX}.0.0/16`);
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  // Relays are killed by remove(); a crashed run's are killed with their network here.
  exitHookInstalled = true;
  process.on("exit", () => {
    for (const network of [...live]) network.remove();
  });
}
