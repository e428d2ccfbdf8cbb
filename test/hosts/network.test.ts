import assert from "node:assert/strict";
import { HostError } from "../../provider/errors";
import { connectSsh } from "../../provider/hosts/ssh";
import { type LabHost, LabNetwork } from "../../lab/netns";
import type { Host } from "../../provider/hosts/host";
import { startSshd, type TestSshd } from "../support/sshd";

describe("an SSH host on a network whose link goes down (network namespaces)", function () {
  this.timeout(120_000);
  let network: LabNetwork | undefined;
  let sshd: TestSshd | undefined;

  /** One machine on its own network, with an SSH connection to it that has run a command. */
  async function connectedMachine(): Promise<{ lab: LabNetwork; machine: LabHost; host: Host }> {
    const lab = (network = await LabNetwork.create({ hosts: 1 }));
    const [machine] = lab.hosts;
    sshd = await startSshd(machine);
    const host = await connectSsh({
      host: machine.address,
      port: sshd.port,
      user: sshd.user,
      privateKey: sshd.privateKey,
      hostKey: sshd.hostKey,
    });
    assert.equal((await host.run("echo up", { timeoutMs: 10_000 })).stdout, "up\n");
    return { lab, machine, host };
  }

  afterEach(async () => {
    await sshd?.stop();
    network?.remove();
    network = sshd = undefined;
  });

  it("fails the command in flight within the keepalive bound, saying the host is gone", async () => {
    const { lab, machine, host } = await connectedMachine();

    const started = Date.now();
    const inFlight = host.run("sleep 50; echo done", { timeoutMs: 60_000 });
    await new Promise((resolve) => setTimeout(resolve, 500));
    lab.cut(machine);
    await assert.rejects(
      inFlight,
      (error: unknown) =>
        error instanceof HostError &&
        /connection was lost before it finished \(no answer to 3 keepalives 5\.0s apart: the host or the network to it is down\)/.test(
          error.message,
        ),
    );
    const failedAfterMs = Date.now() - started;
    // 3 keepalives 5 s apart after the last traffic: 15 s or more, and before the command's own 60 s timeout.
    assert.ok(failedAfterMs >= 14_000 && failedAfterMs < 60_000, `failed after ${failedAfterMs} ms`);

    await host.close();
  });

  it("closes at once a connection to a host that went dark, instead of waiting for its goodbye", async () => {
    const { lab, machine, host } = await connectedMachine();
    lab.cut(machine);
    const closing = Date.now();
    await host.close();
    const tookMs = Date.now() - closing;
    // Without its own 2 s wait, close would wait for the keepalives to give up: 3 of them 5 s apart.
    assert.ok(tookMs >= 1_500 && tookMs < 15_000, `close gave the host its 2 s, then dropped it: ${tookMs} ms`);
  });
});
