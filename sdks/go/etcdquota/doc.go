// The etcd space runbook as resources: compaction, defragmentation, NOSPACE, the space quota
package etcdquota
