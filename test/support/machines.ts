import * as fs from "fs";
import * as path from "path";
import type { LabNetwork } from "../../lab/netns";
import type { SupervisedCluster } from "../../lab/supervisor";
import { startSshd, type TestSshd } from "./sshd";

/**
 * One machine per member: its own sshd (on the member's lab network host when `network` is given), whose
 * `systemctl restart -- etcd.service` (or `restart etcd.service`, `restart k3s`, `restart rke2-server`) restarts that member alone. Every machine accepts the first one's key, as one
 * SSH key per stack does.
 */
export async function machinesFor(
  cluster: SupervisedCluster,
  names: readonly string[],
  network?: LabNetwork,
): Promise<TestSshd[]> {
  const machines: TestSshd[] = [];
  try {
    for (const [i, name] of names.entries()) {
      const sshd = await startSshd(network?.hosts[i]);
      machines.push(sshd);
      // systemd's part of the default restart command (`systemctl daemon-reload && systemctl restart -- 'etcd.service'`).
      fs.writeFileSync(
        path.join(sshd.dir, "bin", "systemctl"),
        `#!/bin/sh\necho "$*" >> '${sshd.dir}/systemctl.log'\n` +
          `case "$*" in\n  daemon-reload) exit 0 ;;\n  "restart -- etcd.service"|"restart etcd.service"|"restart k3s"|"restart rke2-server") exec ${cluster.restartCommand(name)} ;;\n` +
          `esac\necho "systemctl stand-in: unsupported: $*" >&2\nexit 1\n`,
        { mode: 0o755 },
      );
      if (i > 0) fs.copyFileSync(path.join(machines[0].dir, "authorized_keys"), path.join(sshd.dir, "authorized_keys"));
    }
    return machines;
  } catch (error) {
    for (const sshd of machines) await sshd.stop();
    throw error;
  }
}

/** How many times a machine's systemctl restarted etcd. */
export function restartsOn(machine: TestSshd): number {
  const log = path.join(machine.dir, "systemctl.log");
  if (!fs.existsSync(log)) return 0;
  return (
    fs.readFileSync(log, "utf8").match(/^restart (-- etcd\.service|etcd\.service|k3s|rke2-server)$/gm)?.length ?? 0
  );
}
