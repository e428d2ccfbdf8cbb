import assert from "node:assert/strict";
import { envFile } from "../../provider/config/env-file";
import { changedLines, fixture, refusal } from "./support";

const FILE = "/etc/etcd.env";
const GiB8 = 8 * 1024 ** 3;
const kubespray = fixture("kubespray-etcd.env");
const withoutQuota = kubespray.replace(/^ETCD_QUOTA_BACKEND_BYTES=.*\n/m, "");

describe("env file editor", () => {
  describe("reading", () => {
    it("reads kubespray's ETCD_QUOTA_BACKEND_BYTES", () => {
      assert.deepEqual(envFile.read(kubespray, FILE), {
        bytes: 2147483648,
        location: "ETCD_QUOTA_BACKEND_BYTES (line 18)",
      });
    });

    it("reports no quota when the variable is not set", () => {
      assert.equal(envFile.read(withoutQuota, FILE).bytes, undefined);
    });

    for (const line of [
      `ETCD_QUOTA_BACKEND_BYTES="4294967296"`,
      `ETCD_QUOTA_BACKEND_BYTES='4294967296'`,
      "export ETCD_QUOTA_BACKEND_BYTES=4294967296",
      "  ETCD_QUOTA_BACKEND_BYTES = 4294967296  ",
    ]) {
      it(`reads ${line.trim()}`, () => {
        assert.equal(envFile.read(`ETCD_NAME=a\n${line}\n`, FILE).bytes, 4294967296);
      });
    }

    it("ignores a commented-out quota", () => {
      assert.equal(envFile.read("#ETCD_QUOTA_BACKEND_BYTES=1\nETCD_NAME=a\n", FILE).bytes, undefined);
    });

    it("reads a negative quota, which disables it", () => {
      assert.equal(envFile.read("ETCD_QUOTA_BACKEND_BYTES=-1\n", FILE).bytes, -1);
    });
  });

  describe("writing", () => {
    it("raises kubespray's quota keeping comments, blank lines and the other variables", () => {
      assert.deepEqual(changedLines(kubespray, envFile.write(kubespray, GiB8, FILE)), {
        removed: ["ETCD_QUOTA_BACKEND_BYTES=2147483648"],
        added: ["ETCD_QUOTA_BACKEND_BYTES=8589934592"],
      });
    });

    it("keeps the quotes and the export it found", () => {
      assert.equal(
        envFile.write(`export ETCD_QUOTA_BACKEND_BYTES="1"\n`, 2, FILE),
        `export ETCD_QUOTA_BACKEND_BYTES="2"\n`,
      );
      assert.equal(envFile.write(`ETCD_QUOTA_BACKEND_BYTES='1' \n`, 2, FILE), `ETCD_QUOTA_BACKEND_BYTES='2' \n`);
    });

    it("adds the variable at the end when absent", () => {
      assert.equal(envFile.write(withoutQuota, GiB8, FILE), `${withoutQuota}ETCD_QUOTA_BACKEND_BYTES=8589934592\n`);
    });

    it("ends the last line first when the file does not end with a line break", () => {
      assert.equal(envFile.write("ETCD_NAME=a", 5, FILE), "ETCD_NAME=a\nETCD_QUOTA_BACKEND_BYTES=5\n");
      assert.equal(
        envFile.write("ETCD_NAME=a\r\n# end", 5, FILE),
        "ETCD_NAME=a\r\n# end\r\nETCD_QUOTA_BACKEND_BYTES=5\r\n",
      );
    });

    it("writes into Debian's default file, where every ETCD_ line is commented out", () => {
      assert.equal(
        envFile.write('## etcd(1) daemon options\n#ETCD_NAME="hostname"\n', 5, FILE),
        '## etcd(1) daemon options\n#ETCD_NAME="hostname"\nETCD_QUOTA_BACKEND_BYTES=5\n',
      );
    });
  });

  describe("refusing", () => {
    it("refuses a file that names no ETCD_ variable at all: an empty file, or /etc/passwd behind a link", () => {
      for (const text of ["", "root:x:0:0:root:/root:/bin/bash\nPATH=/usr/bin\n"]) {
        const { message } = refusal(() => envFile.write(text, GiB8, FILE), FILE);
        assert.match(message, /names no ETCD_ variable, not even in a comment, so it is not etcd's environment file/);
      }
    });

    it("refuses the variable set twice, naming both lines", () => {
      const text = "ETCD_QUOTA_BACKEND_BYTES=1\nETCD_NAME=a\nexport ETCD_QUOTA_BACKEND_BYTES=2\n";
      const { message } = refusal(() => envFile.write(text, GiB8, FILE), FILE);
      assert.match(message, /ETCD_QUOTA_BACKEND_BYTES \(line 1\) and ETCD_QUOTA_BACKEND_BYTES \(line 3\)/);
    });

    it("refuses ETCD_CONFIG_FILE, pointing at the config file that really holds the quota", () => {
      const text = `${kubespray}ETCD_CONFIG_FILE=/etc/etcd/etcd.conf.yml\n`;
      for (const action of [() => envFile.read(text, FILE), () => envFile.write(text, GiB8, FILE)]) {
        const { message } = refusal(action, FILE);
        assert.match(
          message,
          /ETCD_CONFIG_FILE \(line 30\) makes etcd read its settings from \/etc\/etcd\/etcd\.conf\.yml/,
        );
        assert.match(message, /format "etcd-config"/);
      }
    });

    it("accepts an empty ETCD_CONFIG_FILE, which etcd treats as unset", () => {
      assert.equal(envFile.read("ETCD_CONFIG_FILE=\nETCD_QUOTA_BACKEND_BYTES=3\n", FILE).bytes, 3);
    });

    for (const value of ["8GiB", `"8589934592`, "8589934592 # 8 GiB", "1.5e9"]) {
      it(`refuses the value ${value}`, () => {
        const { message } = refusal(() => envFile.read(`ETCD_QUOTA_BACKEND_BYTES=${value}\n`, FILE), FILE);
        assert.match(message, /ETCD_QUOTA_BACKEND_BYTES \(line 1\) is .* not a whole number of bytes/);
      });
    }

    it("refuses an empty value", () => {
      assert.match(refusal(() => envFile.read("ETCD_QUOTA_BACKEND_BYTES=\n", FILE), FILE).message, /has no value/);
    });
  });
});
