import * as assert from "node:assert/strict";
import { backupsToDelete, type FolderEntry } from "../../provider/config/backups";
import { backupPathFor } from "../../provider/config";

/** Which backups a write's pruning deletes, given a folder's listing as lstat sees it. */
describe("backups to delete", () => {
  const justWritten = "etcd.service.bak-20261207T120000.000Z";
  /** Eight older backups of etcd.service, oldest first. */
  const older = Array.from({ length: 8 }, (_, i) => `etcd.service.bak-2026120${i + 1}T000000.000Z`);
  const hostile: FolderEntry[] = [
    { name: "etcd.service", type: "file" },
    { name: "etcd.service.bak-../../x", type: "file" },
    { name: "etcd.service.bak-20991231T235959.999Z", type: "symlink" },
    { name: "etcd.service.bak-20000101T000000.000Z", type: "directory" },
    { name: "etcd.service.bak-20000101T000000.001Z", type: "other" },
    { name: "other.conf.bak-20000101T000000.000Z", type: "file" },
    { name: "xetcd.service.bak-20000101T000000.000Z", type: "file" },
    { name: ".etcd.service.bak-20000101T000000.000Z", type: "file" },
    { name: "etcd.service.bak-20000101T000000.000Z.orig", type: "file" },
    { name: "etcd.service.bak-20000101T000000.000Z\n", type: "file" },
    { name: "etcd.service.bak-20000101T000000Z", type: "file" },
    { name: "etcd.service.bak-2000010xT000000.000Z", type: "file" },
    { name: "etcd.service.bak-", type: "file" },
  ];
  const listing: FolderEntry[] = [
    ...hostile,
    ...[...older, justWritten].map((name) => ({ name, type: "file" as const })),
  ].reverse();

  it("keeps the newest by the time in their names, the one just written counted, and deletes the older ones", () => {
    assert.deepEqual(backupsToDelete(listing, justWritten, 3).sort(), older.slice(0, 6));
    assert.deepEqual(backupsToDelete(listing, justWritten, 1).sort(), older);
    assert.deepEqual(backupsToDelete(listing, justWritten, 9), []);
    assert.deepEqual(backupsToDelete(listing, justWritten, 100), []);
  });

  it("never deletes the one just written, even when others are named as newer", () => {
    const later = ["etcd.service.bak-20991231T235959.999Z", "etcd.service.bak-20990101T000000.000Z"];
    const entries = [...later, justWritten].map((name) => ({ name, type: "file" as const }));
    assert.deepEqual(backupsToDelete(entries, justWritten, 1).sort(), later.sort());
    assert.deepEqual(backupsToDelete(entries, justWritten, 2), ["etcd.service.bak-20990101T000000.000Z"]);
  });

  it("never deletes a symlink, a folder, another file's backup or a name that is not exactly a backup's", () => {
    const doomed = backupsToDelete(listing, justWritten, 1);
    for (const entry of hostile) assert.ok(!doomed.includes(entry.name), `${JSON.stringify(entry.name)} kept`);
  });

  it("prunes a manifest's hidden backups only: its plain-named look-alikes are another naming", () => {
    const hidden = backupPathFor(
      "kubeadm-manifest",
      "/etc/kubernetes/manifests/etcd.yaml",
      new Date(Date.UTC(2026, 11, 7)),
    );
    const name = hidden.slice(hidden.lastIndexOf("/") + 1);
    assert.equal(name, ".etcd.yaml.bak-20261207T000000.000Z");
    const entries: FolderEntry[] = [
      { name, type: "file" },
      { name: ".etcd.yaml.bak-20261101T000000.000Z", type: "file" },
      { name: "etcd.yaml.bak-20261001T000000.000Z", type: "file" },
      { name: "etcd.yaml", type: "file" },
    ];
    assert.deepEqual(backupsToDelete(entries, name, 1), [".etcd.yaml.bak-20261101T000000.000Z"]);
  });

  it("deletes nothing when the name given is not a backup's", () => {
    const entries = older.map((n) => ({ name: n, type: "file" as const }));
    assert.deepEqual(backupsToDelete(entries, "etcd.service.orig", 1), []);
  });
});
