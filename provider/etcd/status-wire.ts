/**
 * `StatusResponse.dbSizeQuota` (field 12, etcd 3.6+) read straight from the response's bytes: the proto bundled with
 * etcd3 predates the field, and its decoder drops fields it does not know. Returns undefined when the member does not
 * send the field (3.4, 3.5) or sends 0 (3.6 before 3.6.6 with the flag unset), so the caller falls back to the
 * metric.
 */
export function dbSizeQuotaOf(response: Uint8Array): number | undefined {
  const reader = new WireReader(response);
  let quota: bigint | undefined;
  while (!reader.done()) {
    const key = reader.varint();
    const field = Number(key >> 3n);
    const wireType = Number(key & 7n);
    if (field === DB_SIZE_QUOTA_FIELD && wireType === VARINT) {
      quota = reader.varint();
    } else {
      reader.skip(wireType);
    }
  }
  return quota === undefined || quota === 0n ? undefined : Number(BigInt.asIntN(64, quota));
}

const DB_SIZE_QUOTA_FIELD = 12;
const VARINT = 0;
const FIXED64 = 1;
const LENGTH_DELIMITED = 2;
const FIXED32 = 5;

class WireReader {
  private offset = 0;

  constructor(private readonly bytes: Uint8Array) {}

  done(): boolean {
    return this.offset >= this.bytes.length;
  }

  varint(): bigint {
    let value = 0n;
    for (let shift = 0n; shift < 70n; shift += 7n) {
      const byte = this.byte();
      value |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return value;
    }
    throw new Error("StatusResponse: a varint longer than 10 bytes");
  }

  skip(wireType: number): void {
    if (wireType === VARINT) this.varint();
    else if (wireType === FIXED64) this.advance(8);
    else if (wireType === LENGTH_DELIMITED) this.advance(Number(this.varint()));
    else if (wireType === FIXED32) this.advance(4);
    else throw new Error(`StatusResponse: unsupported wire type ${wireType}`);
  }

  private byte(): number {
    if (this.done()) throw new Error("StatusResponse: truncated");
    return this.bytes[this.offset++];
  }

  private advance(count: number): void {
    if (this.offset + count > this.bytes.length) throw new Error("StatusResponse: truncated");
    this.offset += count;
  }
}
