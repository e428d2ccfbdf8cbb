import * as assert from "node:assert/strict";
import { formatDuration, parseDuration } from "../../provider/values/duration";
import { InvalidInputError } from "../../provider/errors";
import { formatSize, parseSize } from "../../provider/values/size";

describe("parseSize", () => {
  const accepted: [unknown, number][] = [
    [0, 0],
    [10240000000, 10240000000],
    ["10240000000", 10240000000],
    ["8GiB", 8 * 1024 ** 3],
    ["8Gi", 8 * 1024 ** 3],
    ["8GB", 8e9],
    ["8G", 8e9],
    ["64MiB", 64 * 1024 ** 2],
    ["64Mi", 64 * 1024 ** 2],
    ["64MB", 64e6],
    ["1.5GiB", 1.5 * 1024 ** 3],
    ["512B", 512],
    ["4kB", 4000],
    ["4KiB", 4096],
    [" 2 GiB ", 2 * 1024 ** 3],
  ];
  for (const [input, bytes] of accepted) {
    it(`reads ${JSON.stringify(input)} as ${bytes} bytes`, () => assert.equal(parseSize(input, "quota"), bytes));
  }

  const rejected: [unknown, RegExp][] = [
    [-1, /non-negative/],
    [1.5, /whole/],
    ["", /not a size/],
    ["8 gigabytes", /unknown unit "gigabytes"/],
    ["8XB", /unknown unit/],
    ["-8GiB", /not a size/],
    ["0.1B", /whole number of bytes/],
    ["99999999TiB", /too large/],
    [null, /got null/],
    [{}, /got an object/],
    [true, /got boolean true/],
  ];
  for (const [input, message] of rejected) {
    it(`rejects ${JSON.stringify(input)} with a message naming the field`, () => {
      assert.throws(
        () => parseSize(input, "defrag.minFreeBytes"),
        (error: unknown) =>
          error instanceof InvalidInputError &&
          error.field === "defrag.minFreeBytes" &&
          message.test(error.message) &&
          error.message.startsWith("defrag.minFreeBytes: "),
      );
    });
  }
});

describe("formatSize", () => {
  it("keeps exact binary sizes exact", () => assert.equal(formatSize(8 * 1024 ** 3), "8 GiB"));
  it("rounds the rest to a readable precision", () => {
    assert.equal(formatSize(1.5 * 1024 ** 2 + 1), "1.50 MiB");
    assert.equal(formatSize(610 * 1024 ** 2 + 300 * 1024), "610.3 MiB");
    assert.equal(formatSize(512), "512 B");
  });
});

describe("parseDuration", () => {
  it("reads seconds and Go-style durations", () => {
    assert.equal(parseDuration(90, "restartTimeout"), 90_000);
    assert.equal(parseDuration("3m", "restartTimeout"), 180_000);
    assert.equal(parseDuration("1m30s", "restartTimeout"), 90_000);
    assert.equal(parseDuration("500ms", "restartTimeout"), 500);
  });
  it("rejects zero, negatives and prose, naming the field", () => {
    for (const bad of [0, -5, "soon", "3 minutes", "", "0s"]) {
      assert.throws(() => parseDuration(bad, "restartTimeout"), /^InvalidInputError: restartTimeout: /);
    }
  });
  it("formats short and long durations", () => {
    assert.equal(formatDuration(800), "0.8s");
    assert.equal(formatDuration(125_000), "2m05s");
    assert.equal(formatDuration(5 * 3_600_000 + 7 * 60_000), "5h07m");
    assert.equal(formatDuration(3 * 86_400_000 + 4 * 3_600_000), "3d04h");
  });
});
