import type { ConfigFormat } from "../../provider/config";
import { MAX_CONFIG_FILE_BYTES } from "../../provider/hosts/host";

/**
 * A config file built to make a parser's work grow faster than its length, just under the read cap. Each took the
 * editors of 0.2.0 from tens of seconds to hours; read in one pass they take milliseconds.
 */
export interface Pathological {
  readonly name: string;
  /** The file's name, which tells its format (`format` is also given, so detection does not decide). */
  readonly file: string;
  readonly format: ConfigFormat;
  readonly text: string;
  /**
   * What reading it must give: the quota's bytes (null: not set), or the refusal's message. Checking the result
   * keeps a parser that gives up early from passing.
   */
  readonly outcome: { readonly bytes: number | null } | { readonly refused: RegExp };
}

/** Repeats `line` as many whole times as fit in what is left of the cap after `head` and `tail`. */
function fill(head: string, line: string, tail = ""): string {
  const room = MAX_CONFIG_FILE_BYTES - head.length - tail.length - 64;
  return head + line.repeat(Math.floor(room / line.length)) + tail;
}

const UNIT_HEAD = "[Unit]\nDescription=etcd\n\n[Service]\n";

export const PATHOLOGICAL: readonly Pathological[] = [
  {
    // The assignment regex tried every split of the blanks among its three blank runs before failing at the \r.
    name: "an env file: ETCD_NAME=, a million blanks, a carriage return inside the line",
    file: "blanks-cr.env",
    format: "env-file",
    text: `ETCD_QUOTA_BACKEND_BYTES=67108864\nETCD_NAME=${" ".repeat(MAX_CONFIG_FILE_BYTES - 100)}\rm1\n`,
    outcome: { bytes: 67108864 },
  },
  {
    // Each word's line number was counted from the file's start.
    name: "a systemd unit: 65,000 Environment= lines",
    file: "many-environment.service",
    format: "systemd-unit",
    text: fill(`${UNIT_HEAD}ExecStart=/usr/bin/etcd --quota-backend-bytes=67108864\n`, "Environment=A=1\n"),
    outcome: { bytes: 67108864 },
  },
  {
    name: "a systemd unit: 40,000 quota flags on continued lines",
    file: "many-flags.service",
    format: "systemd-unit",
    text: fill(`${UNIT_HEAD}ExecStart=/usr/bin/etcd \\\n`, " --quota-backend-bytes=1 \\\n", " --name=m1\n"),
    outcome: { refused: /is set \d+ times/ },
  },
  {
    // Each ExecStart= copied the list of the ones before it.
    name: "a systemd unit: 60,000 ExecStart= lines",
    file: "many-execstart.service",
    format: "systemd-unit",
    text: fill(UNIT_HEAD, "ExecStart=/a/etcd\n"),
    outcome: { refused: /ExecStart= commands/ },
  },
  {
    name: "a k3s config: 40,000 quota entries under etcd-arg",
    file: "rancher/k3s/config.yaml",
    format: "k3s-config",
    text: fill("cluster-init: true\netcd-arg:\n", "  - quota-backend-bytes=1\n"),
    outcome: { refused: /is set \d+ times/ },
  },
  {
    name: "a kubeadm manifest: 30,000 env entries",
    file: "manifests/etcd.yaml",
    format: "kubeadm-manifest",
    text: fill(
      "apiVersion: v1\nkind: Pod\nmetadata:\n  name: etcd\nspec:\n  containers:\n  - name: etcd\n    command:\n    - etcd\n    - --quota-backend-bytes=67108864\n    env:\n",
      "    - name: A\n      value: b\n",
    ),
    outcome: { bytes: 67108864 },
  },
];
