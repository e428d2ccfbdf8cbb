import * as assert from "node:assert/strict";
import { dbSizeQuotaOf } from "../../provider/etcd/status-wire";

/** Protobuf wire bytes built by hand, so the expected values do not come from the decoder under test. */
function varint(value: bigint): number[] {
  const bytes: number[] = [];
  do {
    let byte = Number(value & 0x7fn);
    value >>= 7n;
    if (value > 0n) byte |= 0x80;
    bytes.push(byte);
  } while (value > 0n);
  return bytes;
}
const key = (field: number, wireType: number) => varint(BigInt((field << 3) | wireType));
const header = [...key(1, 2), 4, ...key(1, 0), 7, ...key(3, 0), 42]; // a nested ResponseHeader of 4 bytes
const version = [...key(2, 2), 6, ...Buffer.from("3.6.16")];
const dbSize = [...key(3, 0), ...varint(24_576n)];
const errors = [...key(8, 2), 5, ...Buffer.from("alarm")];

describe("StatusResponse.dbSizeQuota read from the wire", () => {
  it("reads field 12 among the fields etcd 3.6 sends before and after it", () => {
    const bytes = Uint8Array.from([
      ...header,
      ...version,
      ...dbSize,
      ...errors,
      ...key(11, 2),
      2,
      ...Buffer.from("v1"),
      ...key(12, 0),
      ...varint(8_589_934_592n),
      ...key(13, 2),
      0,
    ]);
    assert.equal(dbSizeQuotaOf(bytes), 8 * 1024 ** 3);
  });

  it("is undefined for a 3.5 response, which has no field 12", () => {
    assert.equal(dbSizeQuotaOf(Uint8Array.from([...header, ...version, ...dbSize, ...errors])), undefined);
  });

  it("is undefined when 3.6 before 3.6.6 sends 0 for an unset quota", () => {
    assert.equal(dbSizeQuotaOf(Uint8Array.from([...version, ...key(12, 0), 0])), undefined);
  });

  it("skips fixed-width fields it does not know", () => {
    const fixed64 = [...key(20, 1), 1, 2, 3, 4, 5, 6, 7, 8];
    const fixed32 = [...key(21, 5), 1, 2, 3, 4];
    const bytes = Uint8Array.from([...fixed64, ...fixed32, ...key(12, 0), ...varint(2_147_483_648n)]);
    assert.equal(dbSizeQuotaOf(bytes), 2 * 1024 ** 3);
  });

  it("refuses a truncated response instead of reading past it", () => {
    assert.throws(() => dbSizeQuotaOf(Uint8Array.from([...key(2, 2), 10, 1, 2])), /truncated/);
  });
});
