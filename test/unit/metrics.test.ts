import * as assert from "node:assert/strict";
import { memberMetricsFrom } from "../../provider/etcd/metrics";

// Lines as etcd 3.6.16 prints them (the real exposition has hundreds more).
const EXPOSITION = `# HELP etcd_server_feature_enabled Whether or not a feature is enabled. 1 is enabled, 0 is not.
# TYPE etcd_server_feature_enabled gauge
etcd_server_feature_enabled{name="InitialCorruptCheck",stage="ALPHA"} 1
etcd_server_feature_enabled{name="StopGRPCServiceOnDefrag",stage="ALPHA"} 0
# TYPE etcd_server_quota_backend_bytes gauge
etcd_server_quota_backend_bytes 2.147483648e+09
etcd_mvcc_db_total_size_in_bytes 98304
etcd_mvcc_db_total_size_in_use_in_bytes 40960
process_start_time_seconds 1.78046121653e+09
`;

describe("member metrics", () => {
  it("reads the quota, sizes and start time, float notation included", () => {
    const metrics = memberMetricsFrom(EXPOSITION);
    assert.equal(metrics.quotaBytes, 2 * 1024 ** 3);
    assert.equal(metrics.dbTotalBytes, 98_304);
    assert.equal(metrics.dbInUseBytes, 40_960);
    assert.equal(metrics.processStartTime, 1_780_461_216.53);
  });

  it("reads the StopGRPCServiceOnDefrag gate off and on, and as unknown where no gate is reported (before 3.6)", () => {
    assert.equal(memberMetricsFrom(EXPOSITION).stopsGrpcOnDefrag, false);
    const on = EXPOSITION.replace(
      '"StopGRPCServiceOnDefrag",stage="ALPHA"} 0',
      '"StopGRPCServiceOnDefrag",stage="BETA"} 1',
    );
    assert.equal(memberMetricsFrom(on).stopsGrpcOnDefrag, true);
    const before36 = EXPOSITION.split("\n")
      .filter((line) => !line.includes("feature_enabled"))
      .join("\n");
    assert.equal(memberMetricsFrom(before36).stopsGrpcOnDefrag, undefined);
  });

  it("does not take a labelled sample for the unlabelled metric of the same name", () => {
    const labelled = 'etcd_server_quota_backend_bytes{cluster="a"} 5\n';
    assert.equal(memberMetricsFrom(labelled).quotaBytes, undefined);
  });
});
