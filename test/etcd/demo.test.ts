import * as assert from "node:assert/strict";
import { spawn } from "child_process";
import * as fs from "fs";
import type { ClusterObservation, ObservedMember } from "../../provider/types/observation";
import * as path from "path";
import { etcdBinary, REPO_ROOT } from "../../lab/etcd-binary";
import { statusTable } from "../../lab/status-table";
import { cluster } from "../unit/observations";

const MiB = 1024 ** 2;

function member(overrides: Partial<ObservedMember> & Pick<ObservedMember, "name" | "id" | "endpoint">): ObservedMember {
  return {
    clusterId: "cdf2f74be7f73396",
    version: "3.4.23",
    dbSize: 130 * MiB,
    dbSizeInUse: 120 * MiB,
    leaderId: "a1",
    isLearner: false,
    revision: 942,
    raftTerm: 2,
    raftIndex: 978,
    errors: [],
    dbSizeQuota: undefined,
    isLeader: false,
    metrics: {
      quotaBytes: 128 * MiB,
      dbTotalBytes: undefined,
      dbInUseBytes: undefined,
      processStartTime: undefined,
      stopsGrpcOnDefrag: undefined,
    },
    ...overrides,
  };
}

function observation(overrides: Partial<ClusterObservation> = {}): ClusterObservation {
  const members = [
    member({ name: "m1", id: "a1", endpoint: "http://127.0.0.1:2379", isLeader: true }),
    member({ name: "m2", id: "b2", endpoint: "http://127.0.0.1:22379", dbSize: 8 * MiB, dbSizeInUse: 8 * MiB - 4096 }),
  ];
  return cluster(members, { alarms: [{ memberId: "a1", type: "NOSPACE" }], ...overrides });
}

describe("statusTable", () => {
  it("draws etcdctl's table (centred header, right-aligned cells) with quota, usage, free and alarms", () => {
    assert.equal(
      statusTable(observation()),
      [
        "+------------------------+----+---------+---------+-----------+-----------+------------+---------+--------+--------+---------+",
        "|        ENDPOINT        | ID | VERSION | DB SIZE | IS LEADER | RAFT TERM | RAFT INDEX |  QUOTA  | USAGE  |  FREE  | ALARMS  |",
        "+------------------------+----+---------+---------+-----------+-----------+------------+---------+--------+--------+---------+",
        "|  http://127.0.0.1:2379 | a1 |  3.4.23 | 130 MiB |      true |         2 |        978 | 128 MiB | 101.6% | 10 MiB | NOSPACE |",
        "| http://127.0.0.1:22379 | b2 |  3.4.23 |   8 MiB |     false |         2 |        978 | 128 MiB |   6.3% |  4 KiB |         |",
        "+------------------------+----+---------+---------+-----------+-----------+------------+---------+--------+--------+---------+",
      ].join("\n"),
    );
  });

  it("keeps every line of the box the same width", () => {
    const lines = statusTable(observation()).split("\n");
    assert.equal(new Set(lines.map((line) => line.length)).size, 1);
    assert.ok(lines.every((line) => /^[+|].*[+|]$/.test(line)));
  });

  it("shows - for the quota and usage when the member reports no quota metric", () => {
    const [m1] = observation().members;
    const text = statusTable(observation({ members: [{ ...m1, metrics: { ...m1.metrics, quotaBytes: undefined } }] }));
    const row = text
      .split("\n")[3]
      .split("|")
      .map((cell) => cell.trim());
    assert.deepEqual(row.slice(8, 12), ["-", "-", "10 MiB", "NOSPACE"]);
  });

  it("lists each member's own alarms once, in its own row", () => {
    const alarms = [
      { memberId: "b2", type: "NOSPACE" },
      { memberId: "b2", type: "CORRUPT" },
      { memberId: "b2", type: "NOSPACE" },
    ];
    const rows = statusTable(observation({ alarms })).split("\n");
    assert.match(rows[3], /\|\s+\|$/, "m1 has none");
    assert.match(rows[4], /\| NOSPACE, CORRUPT \|$/);
  });

  it("names endpoints that did not answer, and alarms of members missing from the table, under it", () => {
    const full = observation();
    const text = statusTable({
      ...full,
      members: [full.members[1]],
      unreachable: [{ endpoint: "http://127.0.0.1:2379", reason: "not reachable (connect ECONNREFUSED)" }],
    });
    const lines = text.split("\n");
    assert.equal(lines.length, 7);
    assert.equal(lines[5], "http://127.0.0.1:2379 did not answer: not reachable (connect ECONNREFUSED)");
    assert.equal(lines[6], "NOSPACE is raised on m1 (a1), not in the table");
  });

  it("draws only the header when no member answered", () => {
    const text = statusTable(observation({ members: [], alarms: [] }));
    assert.equal(text.split("\n").length, 4);
    assert.match(text, /\| +ENDPOINT +\| ID \|/);
  });
});

/** The text of every box-drawn table in `output`, in order. */
function tables(output: string): string[] {
  const found: string[][] = [];
  let current: string[] | undefined;
  for (const line of output.split("\n").map((l) => l.trim())) {
    if (current ? /^[+|]/.test(line) : /^\+-[-+]*\+$/.test(line)) {
      if (!current) found.push((current = []));
      current.push(line);
    } else {
      current = undefined;
    }
  }
  return found.map((lines) => lines.join("\n"));
}

/** Whether `pid` is still an etcd process (not gone, not a zombie, not a reused pid). */
function isEtcd(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    if (stat.slice(stat.lastIndexOf(")") + 2)[0] === "Z") return false;
    return fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0")[0].endsWith("etcd");
  } catch {
    return false;
  }
}

interface DemoRun {
  readonly code: number | null;
  readonly output: string;
}

/** Runs `npm run demo`'s command as its own process group; `onOutput` may signal it. Kills the group on timeout. */
function runDemo(timeoutMs: number, onOutput?: (output: string, pid: number) => void): Promise<DemoRun> {
  const child = spawn("npx", ["ts-node", "--transpile-only", "lab/demo.ts"], {
    cwd: REPO_ROOT,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const collect = (chunk: Buffer) => {
    output += chunk.toString("utf8");
    onOutput?.(output, child.pid!);
  };
  child.stdout!.on("data", collect);
  child.stderr!.on("data", collect);
  // Out of time, the demo is interrupted as a terminal would, so that it stops what it started: the CLI runs its
  // language and provider hosts in process groups of their own, which a SIGKILL of the demo's group would orphan.
  const kill = () => process.kill(-child.pid!, "SIGKILL");
  let last: NodeJS.Timeout | undefined;
  const timer = setTimeout(() => {
    process.kill(-child.pid!, "SIGINT");
    last = setTimeout(kill, 30_000);
  }, timeoutMs);
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      clearTimeout(last);
      resolve({ code, output });
    });
  });
}

/** The pids the demo announced for its etcd members, its cluster's folder and its Pulumi program's folder. */
function startedByDemo(output: string): { etcd: number[]; dir: string | undefined; program: string | undefined } {
  return {
    etcd: [...output.matchAll(/\bm\d: pid (\d+), client /g)].map((m) => Number(m[1])),
    dir: /cluster folder: (\S+)/.exec(output)?.[1],
    program: /program: (\S+)\/index\.ts /.exec(output)?.[1],
  };
}

/**
 * Pids of the processes whose command line names `folder` (the CLI's language and provider hosts run from it), and
 * with `cwd`, also those working in it (the `pulumi` CLI itself, started in the program's folder).
 */
function processesIn(folder: string, options: { cwd?: boolean } = {}): number[] {
  return fs
    .readdirSync("/proc")
    .filter((entry) => /^\d+$/.test(entry) && Number(entry) !== process.pid)
    .filter((pid) => {
      try {
        if (fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(folder)) return true;
        return options.cwd === true && fs.readlinkSync(`/proc/${pid}/cwd`) === folder;
      } catch {
        return false;
      }
    })
    .map(Number);
}

/** The command name of a process (`/proc/PID/comm`), or undefined once it is gone. */
function commandOf(pid: number): string | undefined {
  try {
    return fs.readFileSync(`/proc/${pid}/comm`, "utf8").trim();
  } catch {
    return undefined;
  }
}

/** Whether `pid` is a live process (not gone, not a zombie). */
function isAlive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

describe("npm run demo", function () {
  this.timeout(300_000);

  it("fills a cluster to NOSPACE, fixes it with EtcdCompaction, shows no drift, and leaves nothing running", async () => {
    const run = await runDemo(240_000);
    assert.equal(run.code, 0, run.output);

    const found = tables(run.output);
    assert.equal(found.length, 2, run.output);
    const [before, after] = found;
    assert.equal((before.match(/ NOSPACE \|/g) ?? []).length >= 1, true, before);
    assert.doesNotMatch(after, /NOSPACE/);
    assert.equal(after.split("\n").length, 3 + 3 + 1, "three member rows");
    assert.match(run.output, /Error: etcdserver: mvcc: database space exceeded/);
    // etcdctl 3.7 puts two spaces between the fields, earlier releases one.
    assert.match(run.output, /memberID:\d+ +alarm:NOSPACE/);
    // The real CLI's own output: the preview's plan, then the update with the provider's progress lines.
    assert.match(run.output, /\$ pulumi preview\n(.*\n)*? *│ +\+ 2 to create\n/);
    assert.match(run.output, /│ .*EtcdCompaction space \(cluster [0-9a-f]+\): compact: to revision \d+/);
    // The CLI ties a provider's output to no resource: each line names its resource and the cluster it works on.
    const cliLines = run.output.split("\n").filter((line) => /^ *│/.test(line));
    const labels = new Set(
      cliLines.flatMap((line) =>
        [...line.matchAll(/(Etcd(?:Quota|Compaction)(?: [^ :\n(]+)?(?: \(cluster [0-9a-f]+\))?): /g)].map((m) => m[1]),
      ),
    );
    const cluster = /EtcdCompaction space \(cluster ([0-9a-f]+)\)/.exec(run.output)?.[1];
    assert.deepEqual(
      [...labels].sort(),
      [`EtcdCompaction space (cluster ${cluster})`, `EtcdQuota quota (cluster ${cluster})`],
      "every progress line of both resources carries its name and the one cluster's ID",
    );
    assert.match(run.output, /\$ pulumi up --yes\n(.*\n)*? *│ +\+ 2 created\n/);
    assert.match(run.output, /up finished in [\d.]+ s/);
    assert.match(run.output, /summary: reclaimed [\d.]+ MiB .*disarmed NOSPACE on m\d.*test write succeeded/);
    assert.match(run.output, /preview --refresh: no changes/);
    // {stack} and {resource} filled in by the SDK, the relative path taken from the program's folder; etcdutl, which
    // 3.4 does not have, is put on the PATH by the demo.
    const verified = fs.existsSync(path.join(path.dirname(etcdBinary().etcd), "etcdutl"))
      ? /etcd's SHA-256 and etcdutl snapshot status \(\d+ keys, revision \d+\)/
      : /etcd's SHA-256 \(etcdutl is not on the PATH\)/;
    assert.match(
      run.output,
      new RegExp(
        /snapshot before compacting: snapshots\/demo-space-\d{8}T\d{9}Z\.db \([\d.]+ MiB from m\d, revision \d+\), verified by /
          .source + verified.source,
      ),
    );
    assert.match(run.output, /forecast: not enough samples yet: 1 over 0\.0s; a forecast needs 3 refreshes/);
    assert.match(run.output, /demo finished in [\d.]+ s/);

    assert.match(run.output, /live quota before: m1 128 MiB, m2 128 MiB, m3 128 MiB/);
    assert.match(run.output, /live quota after: m1 256 MiB, m2 256 MiB, m3 256 MiB/);

    const started = startedByDemo(run.output);
    assert.equal(started.etcd.length, 6, `three members, then the three the quota step restarted: ${run.output}`);
    assert.deepEqual(
      started.etcd.filter((pid) => isEtcd(pid)),
      [],
      "no etcd the demo started is alive",
    );
    assert.ok(started.program, run.output);
    assert.deepEqual(processesIn(started.program), [], "no language or provider host of the program is left");
    assert.ok(!fs.existsSync(started.program), `${started.program} was removed`);
    assert.ok(started.dir && !fs.existsSync(started.dir), `${started.dir} was removed`);
  });

  it("stops everything it started on Ctrl-C during pulumi up: the CLI, its hosts, the members, by pid", async () => {
    let signalled = false;
    let pulumiPids: number[] = [];
    let hostPids: number[] = [];
    const run = await runDemo(240_000, (output, pid) => {
      // Interrupt as a terminal does (SIGINT to the demo's process group) while `pulumi up` runs the provider: once
      // the CLI shows its first progress line of the update.
      const up = output.indexOf("$ pulumi up --yes");
      if (signalled || up < 0 || !/│ .*EtcdCompaction space \(cluster [0-9a-f]+\): /.test(output.slice(up))) return;
      const program = startedByDemo(output).program;
      if (!program) return;
      signalled = true;
      const running = processesIn(program, { cwd: true });
      pulumiPids = running.filter((p) => commandOf(p) === "pulumi");
      hostPids = running.filter((p) => commandOf(p) !== "pulumi");
      process.kill(-pid, "SIGINT");
    });
    assert.ok(signalled, run.output);
    assert.notEqual(run.code, 0);
    assert.match(run.output, /SIGINT: stopping/);
    assert.equal(pulumiPids.length, 1, `the real pulumi CLI ran \`up\` when the Ctrl-C came: ${run.output}`);
    assert.ok(hostPids.length > 0, "its language and provider hosts ran");
    assert.deepEqual(
      [...pulumiPids, ...hostPids].filter(isAlive),
      [],
      "no pulumi process or host of the program is alive",
    );
    const started = startedByDemo(run.output);
    assert.equal(started.etcd.length, 3, run.output);
    assert.deepEqual(
      started.etcd.filter((pid) => isEtcd(pid)),
      [],
      "no etcd the demo started is alive",
    );
    // Nothing is left half-changed: the members, their data and the state go with the cluster's and program's folders.
    assert.ok(started.dir && !fs.existsSync(started.dir), `${started.dir} was removed`);
    assert.ok(started.program && !fs.existsSync(started.program), `${started.program} was removed`);
  });
});
