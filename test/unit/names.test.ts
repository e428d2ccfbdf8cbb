import * as assert from "node:assert/strict";
import { InvalidInputError } from "../../provider/errors";
import { nearestName, rejectMisspelledKeys } from "../../provider/inputs/check";

const COMPACTION = ["endpoints", "retainRevisions", "moveLeader", "defrag", "when", "lockTimeout"];

describe("unknown input names", () => {
  it("suggests the name a typo meant: a letter missing, swapped, added, or another case or separator", () => {
    assert.equal(nearestName("retainRevison", COMPACTION), "retainRevisions");
    assert.equal(nearestName("moveLeadr", COMPACTION), "moveLeader");
    assert.equal(nearestName("retian_revisions", COMPACTION), "retainRevisions");
    assert.equal(nearestName("RetainRevisions", COMPACTION), "retainRevisions");
    assert.equal(nearestName("restartTimout", ["quota", "restartTimeout", "lockTimeout"]), "restartTimeout");
  });

  it("suggests nothing for a name too far from every known one", () => {
    assert.equal(nearestName("compactEverything", COMPACTION), undefined);
    assert.equal(nearestName("x", COMPACTION), undefined);
    assert.equal(nearestName("cacert", ["ca", "cert", "key"]), undefined, "two letters off a four-letter name");
  });

  it("refuses the first unknown key with its path and the suggestion, and lets absent values pass", () => {
    assert.throws(
      () => rejectMisspelledKeys({ endpoints: [], retainRevison: 1000 }, COMPACTION, "", "input"),
      (error: unknown) =>
        error instanceof InvalidInputError &&
        error.field === "retainRevison" &&
        error.problem === "unknown input; did you mean retainRevisions?",
    );
    assert.throws(
      () => rejectMisspelledKeys({ minFreeByte: "1GiB" }, ["minFreeBytes", "minFragmentation"], "defrag", "setting"),
      (error: unknown) =>
        error instanceof InvalidInputError &&
        error.message === "defrag.minFreeByte: unknown setting; did you mean minFreeBytes?",
    );
    assert.throws(
      () => rejectMisspelledKeys({ wat: 1 }, ["ca", "cert", "key"], "tls", "TLS setting"),
      /^InvalidInputError: tls\.wat: unknown TLS setting; the TLS settings are ca, cert, key$/,
    );
    assert.doesNotThrow(() => rejectMisspelledKeys({ endpoints: [], typo: undefined }, COMPACTION, "", "input"));
  });
});
