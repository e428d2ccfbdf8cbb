import * as fs from "fs";
import * as path from "path";
import type { LabCluster } from "./cluster";

/*
 * Writing a member's files in each format as the tools that deploy etcd write them (kubespray and runbook units, etcd's
 * YAML config, kubeadm's static Pod manifest, k3s's config.yaml), so that EtcdQuota is tested on what it will meet.
 */

// Not provider/config's ConfigFormat: the lab's own list, so that the tests do not take the formats from the code under
// test.
export type SupervisedFormat = "systemd-unit" | "env-file" | "etcd-config" | "kubeadm-manifest" | "k3s-config";

export const SUPERVISED_FORMATS: readonly SupervisedFormat[] = [
  "systemd-unit",
  "env-file",
  "etcd-config",
  "kubeadm-manifest",
  "k3s-config",
];

/** Where a member's files are, under its own folder. */
export interface MemberFiles {
  /** `<dir>/<name>`: config files, the control folders, etcd.log and supervisor.log. */
  readonly dir: string;
  /** The file EtcdQuota is pointed at. */
  readonly configFile: string;
  /** The systemd unit, for the three formats systemd runs. */
  readonly unitFile: string | undefined;
}

/** How long the restart command waits for the supervisor's answer (tenths of a second). */
const RESTART_COMMAND_TENTHS = 600;

export function memberFiles(format: SupervisedFormat, dir: string): MemberFiles {
  // k3s runs etcd inside its own process, from config.yaml; its unit only says `k3s server`.
  const unitFile =
    format === "kubeadm-manifest" || format === "k3s-config" ? undefined : path.join(dir, "etcd.service");
  const configFile = {
    "systemd-unit": path.join(dir, "etcd.service"),
    "env-file": path.join(dir, "etcd.env"),
    "etcd-config": path.join(dir, "etcd.conf.yml"),
    "kubeadm-manifest": path.join(dir, "etcd.yaml"),
    "k3s-config": path.join(dir, "rancher", "k3s", "config.yaml"),
  }[format];
  return { dir, configFile, unitFile };
}

/**
 * Writes the member's files from the flags the lab started it with, `--quota-backend-bytes` (or its equivalent)
 * only when `quotaBytes` is set, and the restart script for the formats systemd runs.
 */
export function writeMemberFiles(
  cluster: LabCluster,
  format: SupervisedFormat,
  member: MemberFiles & { readonly name: string },
  quotaBytes: number | undefined,
): void {
  const started = cluster.member(member.name);
  // The lab's flags, all `--key=value`, in its order; the quota and the snapshot count are placed per format.
  const settings = started.args.map((arg) => {
    const match = /^--([^=]+)=(.*)$/s.exec(arg);
    if (!match) throw new Error(`unexpected lab argument ${arg}`);
    return [match[1], match[2]] as const;
  });
  const get = (key: string) => settings.find(([k]) => k === key)?.[1] ?? "";
  const flags = (omit: readonly string[]) =>
    settings.filter(([k]) => !omit.includes(k) && k !== "quota-backend-bytes").map(([k, v]) => `--${k}=${v}`);
  const quotaFlag = quotaBytes === undefined ? [] : [`--quota-backend-bytes=${quotaBytes}`];
  const write = (file: string, text: string) => fs.writeFileSync(file, text);

  switch (format) {
    case "systemd-unit":
      write(member.configFile, unit(member.name, continued(cluster.etcd, [...flags([]), ...quotaFlag])));
      break;
    case "env-file": {
      // etcd refuses to start when a setting is both a flag and an ETCD_* variable: these live in the env file only.
      const execStart = continued(cluster.etcd, flags(["snapshot-count"]));
      write(member.unitFile!, unit(member.name, execStart, member.configFile));
      const lines = [
        `# etcd settings for ${member.name}; systemd reads this file at every start.`,
        `ETCD_SNAPSHOT_COUNT=${get("snapshot-count")}`,
        ...(quotaBytes === undefined ? [] : [`ETCD_QUOTA_BACKEND_BYTES=${quotaBytes}`]),
      ];
      write(member.configFile, `${lines.join("\n")}\n`);
      break;
    }
    case "etcd-config": {
      const keys = [
        "name",
        "data-dir",
        "listen-client-urls",
        "advertise-client-urls",
        "listen-peer-urls",
        "initial-advertise-peer-urls",
        "listen-metrics-urls",
        "initial-cluster-token",
        "initial-cluster-state",
        "snapshot-count",
        "logger",
      ];
      const lines = [
        `# This is the configuration file for the etcd server ${member.name}.`,
        ...keys.map((key) => `${key}: ${get(key)}`),
        `initial-cluster: "${get("initial-cluster")}"`,
        "log-outputs: [stderr]",
        "",
        "# Raise alarms when backend size exceeds the given quota. 0 means use the default quota.",
        `quota-backend-bytes: ${quotaBytes ?? 0}`,
        ...transportSecurity("client", (key) => get(key)),
        ...transportSecurity("peer", (key) => get(`peer-${key}`)),
      ];
      write(member.configFile, `${lines.join("\n")}\n`);
      write(member.unitFile!, unit(member.name, `${cluster.etcd} --config-file ${member.configFile}`));
      break;
    }
    case "kubeadm-manifest":
      write(
        member.configFile,
        manifest(member.name, cluster.version, started.clientUrl, started.metricsUrl, started.dataDir, [
          ...flags([]),
          ...kubeadmFlags(cluster.version),
          ...quotaFlag,
        ]),
      );
      break;
    case "k3s-config": {
      fs.mkdirSync(path.dirname(member.configFile), { recursive: true });
      const lines = [
        `# k3s server settings for ${member.name}; k3s hands each etcd-arg to its embedded etcd.`,
        'write-kubeconfig-mode: "0644"',
        "cluster-init: true",
        "etcd-expose-metrics: true",
        "etcd-arg:",
        `  - "snapshot-count=${get("snapshot-count")}"`,
        ...(quotaBytes === undefined ? [] : [`  - "quota-backend-bytes=${quotaBytes}"`]),
        "disable:",
        "  - traefik",
      ];
      write(member.configFile, `${lines.join("\n")}\n`);
      break;
    }
  }
  if (format !== "kubeadm-manifest") {
    write(path.join(member.dir, "restart.sh"), restartScript(member.name, member.dir));
  }
}

/** The shell command that files a restart request for the member in `dir` and waits for the answer. */
export function restartShellCommand(dir: string): string {
  return `/bin/sh ${shellQuote(path.join(dir, "restart.sh"))}`;
}

/** etcd's config file nests the TLS flags: `--peer-cert-file` is `peer-transport-security: cert-file:`. */
function transportSecurity(side: "client" | "peer", flag: (key: string) => string): string[] {
  const keys = ["cert-file", "key-file", "trusted-ca-file", "client-cert-auth"];
  if (flag("cert-file") === "") return [];
  return [
    `${side}-transport-security:`,
    ...keys.filter((key) => flag(key) !== "").map((key) => `  ${key}: ${flag(key)}`),
  ];
}

/** `binary \` then one flag a line, as kubespray and runbook units write it. */
function continued(binary: string, flags: readonly string[]): string {
  return [binary, ...flags.map((f) => `  ${f}`)].join(" \\\n");
}

function unit(name: string, execStart: string, environmentFile?: string): string {
  return [
    "[Unit]",
    `Description=etcd member ${name} (supervised test member)`,
    "After=network-online.target",
    "Wants=network-online.target",
    "",
    "[Service]",
    "Type=notify",
    ...(environmentFile ? [`EnvironmentFile=${environmentFile}`] : []),
    `ExecStart=${execStart}`,
    "Restart=always",
    "RestartSec=10s",
    "LimitNOFILE=40000",
    "",
    "[Install]",
    "WantedBy=multi-user.target",
    "",
  ].join("\n");
}

/**
 * The flags kubeadm adds for the etcd it deploys, so that the lab's manifests run what clusters run: for etcd 3.6 and
 * newer (kubeadm's branch for an image tag of at least 3.6.0, so 3.7 members get the same) the feature gate and the
 * watch flag that replaced the `--experimental-*` ones, which 3.6 deprecates and 3.7 removes; before 3.6 the
 * experimental flags.
 */
function kubeadmFlags(version: string): string[] {
  const [major, minor] = version.split(".").map(Number);
  return major > 3 || (major === 3 && minor >= 6)
    ? ["--feature-gates=InitialCorruptCheck=true", "--watch-progress-notify-interval=5s"]
    : ["--experimental-initial-corrupt-check=true", "--experimental-watch-progress-notify-interval=5s"];
}

function manifest(
  name: string,
  version: string,
  clientUrl: string,
  metricsUrl: string,
  dataDir: string,
  flags: readonly string[],
): string {
  const byName = (flag: string) => flag.replace(/^--/, "").split("=")[0];
  const sorted = [...flags].sort((a, b) => (byName(a) < byName(b) ? -1 : byName(a) > byName(b) ? 1 : 0));
  const port = new URL(metricsUrl).port;
  const probe = (probePath: string, extra: string[]) => [
    ...extra,
    "      httpGet:",
    "        host: 127.0.0.1",
    `        path: ${probePath}`,
    `        port: ${port}`,
    "        scheme: HTTP",
  ];
  return [
    "apiVersion: v1",
    "kind: Pod",
    "metadata:",
    "  annotations:",
    `    kubeadm.kubernetes.io/etcd.advertise-client-urls: ${clientUrl}`,
    "  creationTimestamp: null",
    "  labels:",
    "    component: etcd",
    "    tier: control-plane",
    `  name: etcd-${name}`,
    "  namespace: kube-system",
    "spec:",
    "  containers:",
    "  - command:",
    "    - etcd",
    ...sorted.map((flag) => `    - ${flag}`),
    `    image: registry.k8s.io/etcd:${version}-0`,
    "    imagePullPolicy: IfNotPresent",
    "    livenessProbe:",
    ...probe("/livez", ["      failureThreshold: 8"]),
    "      initialDelaySeconds: 10",
    "      periodSeconds: 10",
    "      timeoutSeconds: 15",
    "    name: etcd",
    "    readinessProbe:",
    ...probe("/readyz", ["      failureThreshold: 3"]),
    "      periodSeconds: 1",
    "      timeoutSeconds: 15",
    "    resources:",
    "      requests:",
    "        cpu: 100m",
    "        memory: 100Mi",
    "    startupProbe:",
    ...probe("/readyz", ["      failureThreshold: 24"]),
    "      initialDelaySeconds: 10",
    "      periodSeconds: 10",
    "      timeoutSeconds: 15",
    "    volumeMounts:",
    `    - mountPath: ${dataDir}`,
    "      name: etcd-data",
    "  hostNetwork: true",
    "  priority: 2000001000",
    "  priorityClassName: system-node-critical",
    "  securityContext:",
    "    seccompProfile:",
    "      type: RuntimeDefault",
    "  volumes:",
    "  - hostPath:",
    `      path: ${dataDir}`,
    "      type: DirectoryOrCreate",
    "    name: etcd-data",
    "status: {}",
    "",
  ].join("\n");
}

/** Files a request, then waits for the supervisor's answer: `ok` or `failed` on the first line, a message after. */
function restartScript(name: string, dir: string): string {
  return [
    "#!/bin/sh",
    `# Restarts etcd member ${name} through the test supervisor (the stand-in for systemctl restart).`,
    `dir=${shellQuote(dir)}`,
    'id="$(date +%s%N).$$"',
    ': > "$dir/requests/$id"',
    "i=0",
    `while [ "$i" -lt ${RESTART_COMMAND_TENTHS} ]; do`,
    '  if [ -f "$dir/acks/$id" ]; then',
    '    status="$(head -n 1 "$dir/acks/$id")"',
    '    if [ "$status" = ok ]; then tail -n +2 "$dir/acks/$id"; else tail -n +2 "$dir/acks/$id" >&2; fi',
    '    rm -f "$dir/acks/$id"',
    '    [ "$status" = ok ] && exit 0',
    "    exit 1",
    "  fi",
    "  sleep 0.1",
    "  i=$((i + 1))",
    "done",
    'rm -f "$dir/requests/$id"',
    `echo "restart of ${name}: no answer from the supervisor after ${RESTART_COMMAND_TENTHS / 10} s" >&2`,
    "exit 1",
    "",
  ].join("\n");
}

function shellQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}
