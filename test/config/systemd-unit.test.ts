import assert from "node:assert/strict";
import { systemdUnit } from "../../provider/config/systemd-unit";
import { changedLines, fixture, refusal } from "./support";

const FILE = "/etc/systemd/system/etcd.service";
const GiB8 = 8 * 1024 ** 3;

function unit(service: string): string {
  return `[Unit]\nDescription=etcd\n\n[Service]\nType=notify\n${service}\n\n[Install]\nWantedBy=multi-user.target\n`;
}

describe("systemd unit editor", () => {
  describe("reading", () => {
    it("reads the runbook's --quota-backend-bytes=10240000000 from a continued ExecStart", () => {
      assert.deepEqual(systemdUnit.read(fixture("runbook-etcd.service"), FILE), {
        bytes: 10240000000,
        location: "ExecStart flag --quota-backend-bytes (line 30)",
      });
    });

    it("reports no quota for kubespray's unit, whose settings come from its EnvironmentFile", () => {
      assert.deepEqual(systemdUnit.read(fixture("kubespray-etcd.service"), FILE), {
        bytes: undefined,
        location: "ExecStart= (line 9)",
      });
    });

    it("reads a flag whose value is the next argument", () => {
      const text = unit("ExecStart=/usr/bin/etcd --name=a --quota-backend-bytes 4294967296 --data-dir=/d");
      assert.equal(systemdUnit.read(text, FILE).bytes, 4294967296);
    });

    it("reads the single-dash spelling that Go's flag package accepts", () => {
      const text = unit("ExecStart=/usr/bin/etcd -quota-backend-bytes=4294967296");
      assert.deepEqual(systemdUnit.read(text, FILE), {
        bytes: 4294967296,
        location: "ExecStart flag -quota-backend-bytes (line 6)",
      });
    });

    it("reads through ExecStart prefixes such as - and @", () => {
      assert.equal(systemdUnit.read(unit("ExecStart=-/usr/bin/etcd --quota-backend-bytes=1"), FILE).bytes, 1);
      assert.equal(systemdUnit.read(unit("ExecStart=@/usr/bin/etcd etcd --quota-backend-bytes=2"), FILE).bytes, 2);
    });

    it("reads a quoted flag", () => {
      assert.equal(systemdUnit.read(unit(`ExecStart=/usr/bin/etcd "--quota-backend-bytes=3"`), FILE).bytes, 3);
    });

    it("joins a continued ExecStart across comment lines, as systemd does", () => {
      const text = unit(
        [
          "ExecStart=/usr/bin/etcd \\",
          "  --name=a \\",
          "# the quota is in bytes",
          "; and so is this comment",
          "  --quota-backend-bytes=4294967296",
        ].join("\n"),
      );
      assert.deepEqual(systemdUnit.read(text, FILE), {
        bytes: 4294967296,
        location: "ExecStart flag --quota-backend-bytes (line 10)",
      });
    });

    it("does not continue a line that ends with an escaped backslash", () => {
      const text = unit("ExecStart=/usr/bin/etcd --name=a\\\\\nEnvironment=ETCD_QUOTA_BACKEND_BYTES=5");
      assert.equal(systemdUnit.read(text, FILE).bytes, 5);
    });

    it("reads Environment=ETCD_QUOTA_BACKEND_BYTES when no flag is given", () => {
      const text = unit("Environment=ETCD_QUOTA_BACKEND_BYTES=4294967296\nExecStart=/usr/bin/etcd");
      assert.deepEqual(systemdUnit.read(text, FILE), {
        bytes: 4294967296,
        location: "Environment=ETCD_QUOTA_BACKEND_BYTES (line 6)",
      });
    });

    it("reads one quoted assignment among several on an Environment= line", () => {
      const text = unit(
        `Environment="ETCD_NAME=a" "ETCD_QUOTA_BACKEND_BYTES=4294967296" "OTHER=x y"\nExecStart=/usr/bin/etcd`,
      );
      assert.equal(systemdUnit.read(text, FILE).bytes, 4294967296);
    });

    it("refuses the quota as both a flag and Environment=, which etcd will not start with", () => {
      const text = unit(
        "Environment=ETCD_QUOTA_BACKEND_BYTES=2147483648\nExecStart=/usr/bin/etcd --quota-backend-bytes=4294967296",
      );
      const error = refusal(() => systemdUnit.read(text, FILE), FILE);
      assert.match(
        error.message,
        /both as a flag \(ExecStart flag --quota-backend-bytes \(line 7\)\) and as ETCD_QUOTA_BACKEND_BYTES \(Environment=ETCD_QUOTA_BACKEND_BYTES \(line 6\)\)/,
      );
      assert.match(error.message, /etcd refuses to start with both/);
      refusal(() => systemdUnit.write(text, GiB8, FILE), FILE);
    });

    it("forgets Environment= assignments made before an empty Environment=", () => {
      const text = unit("Environment=ETCD_QUOTA_BACKEND_BYTES=5\nEnvironment=\nExecStart=/usr/bin/etcd");
      assert.equal(systemdUnit.read(text, FILE).bytes, undefined);
    });

    it("uses the ExecStart= after an empty one, as a drop-in replacing the command does", () => {
      const text = "[Service]\nExecStart=\nExecStart=/usr/bin/etcd --quota-backend-bytes=7\n";
      assert.equal(systemdUnit.read(text, FILE).bytes, 7);
    });

    it("ignores ExecStart= outside [Service]", () => {
      const text = "[Unit]\nExecStart=/usr/bin/etcd --quota-backend-bytes=1\n[Service]\nExecStart=/usr/bin/etcd\n";
      assert.equal(systemdUnit.read(text, FILE).bytes, undefined);
    });
  });

  describe("writing", () => {
    it("keeps comments and other flags when raising the quota in a continued ExecStart", () => {
      const text = fixture("runbook-etcd.service");
      const written = systemdUnit.write(text, GiB8, FILE);
      assert.deepEqual(changedLines(text, written), {
        removed: ["  --quota-backend-bytes=10240000000 \\"],
        added: ["  --quota-backend-bytes=8589934592 \\"],
      });
    });

    it("appends the flag to a one-line ExecStart when the unit sets no quota", () => {
      const text = fixture("kubespray-etcd.service");
      assert.deepEqual(changedLines(text, systemdUnit.write(text, GiB8, FILE)), {
        removed: ["ExecStart=/usr/local/bin/etcd"],
        added: ["ExecStart=/usr/local/bin/etcd --quota-backend-bytes=8589934592"],
      });
    });

    it("appends the flag to the last line of a continued ExecStart", () => {
      const text = unit(
        "ExecStart=/usr/bin/etcd \\\n  --name=a \\\n# comment\n  --data-dir=/var/lib/etcd\nRestart=always",
      );
      assert.deepEqual(changedLines(text, systemdUnit.write(text, GiB8, FILE)), {
        removed: ["  --data-dir=/var/lib/etcd"],
        added: ["  --data-dir=/var/lib/etcd --quota-backend-bytes=8589934592"],
      });
    });

    it("changes only the number of a flag whose value is the next argument", () => {
      const text = unit("ExecStart=/usr/bin/etcd --quota-backend-bytes  4294967296 --name=a");
      assert.match(systemdUnit.write(text, GiB8, FILE), /--quota-backend-bytes {2}8589934592 --name=a\n/);
    });

    it("keeps the single dash and the quotes it found", () => {
      const text = unit(`ExecStart=/usr/bin/etcd -quota-backend-bytes=1 '--name=a b'`);
      const written = systemdUnit.write(text, 2, FILE);
      assert.match(written, /ExecStart=\/usr\/bin\/etcd -quota-backend-bytes=2 '--name=a b'\n/);
    });

    it("edits Environment= in place, without adding a flag, when that is where the quota is", () => {
      const text = unit(
        `Environment="ETCD_NAME=a" "ETCD_QUOTA_BACKEND_BYTES=2147483648" "OTHER=x"\nExecStart=/usr/bin/etcd`,
      );
      assert.deepEqual(changedLines(text, systemdUnit.write(text, GiB8, FILE)), {
        removed: [`Environment="ETCD_NAME=a" "ETCD_QUOTA_BACKEND_BYTES=2147483648" "OTHER=x"`],
        added: [`Environment="ETCD_NAME=a" "ETCD_QUOTA_BACKEND_BYTES=8589934592" "OTHER=x"`],
      });
    });

    it("keeps Windows line endings", () => {
      const text = "[Service]\r\nExecStart=/usr/bin/etcd \\\r\n  --quota-backend-bytes=1\r\nRestart=always\r\n";
      assert.equal(
        systemdUnit.write(text, 2, FILE),
        "[Service]\r\nExecStart=/usr/bin/etcd \\\r\n  --quota-backend-bytes=2\r\nRestart=always\r\n",
      );
    });
  });

  describe("refusing", () => {
    it("refuses --config-file on ExecStart, pointing at the config file that really holds the quota", () => {
      const text = unit("ExecStart=/usr/bin/etcd --config-file=/etc/etcd/etcd.conf.yml --quota-backend-bytes=1");
      for (const action of [() => systemdUnit.read(text, FILE), () => systemdUnit.write(text, GiB8, FILE)]) {
        const { message } = refusal(action, FILE);
        assert.match(message, /ExecStart flag --config-file \(line 6\)/);
        assert.match(message, /point configFile at \/etc\/etcd\/etcd\.conf\.yml with format "etcd-config"/);
      }
    });

    it("refuses --config-file given as the next argument", () => {
      const text = unit("ExecStart=/usr/bin/etcd --config-file /etc/etcd/etcd.conf.yml");
      assert.match(refusal(() => systemdUnit.read(text, FILE), FILE).message, /\/etc\/etcd\/etcd\.conf\.yml/);
    });

    it("refuses Environment=ETCD_CONFIG_FILE", () => {
      const text = unit("Environment=ETCD_CONFIG_FILE=/etc/etcd/etcd.conf.yml\nExecStart=/usr/bin/etcd");
      const { message } = refusal(() => systemdUnit.write(text, GiB8, FILE), FILE);
      assert.match(
        message,
        /Environment=ETCD_CONFIG_FILE \(line 6\) makes etcd read its settings from \/etc\/etcd\/etcd\.conf\.yml/,
      );
    });

    it("refuses two ExecStart= commands", () => {
      const text = unit(
        "ExecStart=/usr/bin/etcd --quota-backend-bytes=1\nExecStart=/usr/bin/etcd --quota-backend-bytes=2",
      );
      assert.match(
        refusal(() => systemdUnit.read(text, FILE), FILE).message,
        /2 ExecStart= commands \(lines 6 and 7\)/,
      );
    });

    it("refuses a [Service] without ExecStart=", () => {
      const text = "[Service]\nEnvironment=ETCD_QUOTA_BACKEND_BYTES=5\n";
      assert.match(refusal(() => systemdUnit.read(text, FILE), FILE).message, /no ExecStart=/);
    });

    it("refuses the same flag given twice, naming both lines", () => {
      const text = unit("ExecStart=/usr/bin/etcd \\\n  --quota-backend-bytes=1 \\\n  -quota-backend-bytes 2");
      const { message } = refusal(() => systemdUnit.write(text, GiB8, FILE), FILE);
      assert.match(
        message,
        /ExecStart flag --quota-backend-bytes \(line 7\) and ExecStart flag -quota-backend-bytes \(line 8\)/,
      );
    });

    it("refuses ETCD_QUOTA_BACKEND_BYTES assigned twice", () => {
      const text = unit(
        "Environment=ETCD_QUOTA_BACKEND_BYTES=1\nEnvironment=ETCD_QUOTA_BACKEND_BYTES=2\nExecStart=/usr/bin/etcd",
      );
      assert.match(refusal(() => systemdUnit.read(text, FILE), FILE).message, /set 2 times.*\(line 6\).*\(line 7\)/);
    });

    it("refuses an ExecStart that does not run etcd itself", () => {
      const text = unit(`ExecStart=/bin/sh -c "exec /usr/bin/etcd --quota-backend-bytes=1"`);
      assert.match(refusal(() => systemdUnit.write(text, GiB8, FILE), FILE).message, /runs \/bin\/sh, not etcd/);
    });

    it("refuses a comment at the end of an ExecStart line, which systemd would pass to etcd", () => {
      const text = unit("ExecStart=/usr/bin/etcd \\\n  --quota-backend-bytes=10240000000 # bytes \\\n  --name=a");
      const { message } = refusal(() => systemdUnit.read(text, FILE), FILE);
      assert.match(message, /passes "#" \(line 7\) to etcd as an argument/);
    });

    it("refuses an unterminated quote", () => {
      const text = unit(`ExecStart=/usr/bin/etcd "--quota-backend-bytes=1`);
      assert.match(refusal(() => systemdUnit.read(text, FILE), FILE).message, /unterminated " quote/);
    });

    for (const [value, problem] of [
      ["10G", /"10G", which is not a whole number of bytes/],
      ["8e9", /"8e9"/],
      ["0x10", /"0x10"/],
      ["010", /"010"/],
      ["", /has no value/],
      ["99999999999999999999", /too large/],
    ] as const) {
      it(`refuses the value "${value}", naming the file and where it is`, () => {
        const text = unit(`ExecStart=/usr/bin/etcd --quota-backend-bytes=${value}`);
        const { message } = refusal(() => systemdUnit.read(text, FILE), FILE);
        assert.match(message, /ExecStart flag --quota-backend-bytes \(line 6\)/);
        assert.match(message, problem);
      });
    }

    it("refuses a flag given last with no value", () => {
      const text = unit("ExecStart=/usr/bin/etcd --quota-backend-bytes");
      assert.match(refusal(() => systemdUnit.read(text, FILE), FILE).message, /\(line 6\) has no value/);
    });

    it("refuses to write a quota that is not a safe integer", () => {
      const text = fixture("runbook-etcd.service");
      for (const bytes of [1.5, Number.NaN, 2 ** 53, Number.POSITIVE_INFINITY]) {
        assert.match(refusal(() => systemdUnit.write(text, bytes, FILE), FILE).message, /cannot write a quota/);
      }
    });
  });
});
