import assert from "node:assert/strict";
import { editorFor } from "../../provider/config";
import { ConfigFileError } from "../../provider/errors";
import { PATHOLOGICAL } from "./pathological";

/**
 * Inputs near the 1 MiB read cap that made a parser's work grow faster than the file: on a loaded 2-core machine
 * the editors of 0.2.0 took 98 s to over 240 s on each (the env file's regex, cubic, hours). The bound is mocha's
 * timeout, far above what a one-pass parse needs (milliseconds, and seconds for the YAML parser under load) and far
 * below what the old parsers took; the result is checked too, so a parser cannot pass by giving up.
 */
describe("config editors on pathological input near the read cap", function () {
  this.timeout(60_000);

  for (const input of PATHOLOGICAL) {
    it(`reads ${input.name} in one pass`, function () {
      const file = `/etc/${input.file}`;
      const editor = editorFor(input.format);
      const outcome = input.outcome;
      if ("refused" in outcome) {
        assert.throws(
          () => editor.read(input.text, file),
          (err: unknown) => err instanceof ConfigFileError && outcome.refused.test(err.message),
        );
        return;
      }
      assert.equal(editor.read(input.text, file).bytes ?? null, outcome.bytes);
      // YAML's own parser is linear but slow (seconds per MiB under load): one parse is enough there.
      if (input.format === "kubeadm-manifest") return;
      const written = editor.write(input.text, 80 * 1024 ** 2, file);
      assert.equal(editor.read(written, file).bytes, 80 * 1024 ** 2, "the edit reads back");
      assert.equal(written.length, input.text.length, "only the quota's digits changed (same count)");
    });
  }

  it("lists only the first few places of a setting given tens of thousands of times", function () {
    const input = PATHOLOGICAL.find((p) => p.name.includes("quota flags"))!;
    const err = (() => {
      try {
        editorFor(input.format).read(input.text, "/etc/x.service");
      } catch (error) {
        return error as ConfigFileError;
      }
      assert.fail("not refused");
    })();
    assert.ok(err instanceof ConfigFileError);
    assert.match(err.message, /\(line 6\), .* \(line 7\), .* \(line 8\) and \d+ more; keep one$/);
    assert.ok(err.message.length < 400, `the message is ${err.message.length} characters`);
  });
});
