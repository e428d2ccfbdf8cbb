#!/usr/bin/env bash
# `npm run plugin:build`: the plugin tarball pulumi-resource-etcdquota-v<version>-linux-amd64.tar.gz in dist-plugin/,
# for `pulumi plugin install resource etcdquota <version> --file <tarball>`, or unpacked into a folder that
# Pulumi.yaml's `plugins.providers[].path` names. It holds the launcher and a node_modules with this package (built
# by `npm run build`, installed from its `npm pack` tarball as a user would) and its runtime dependencies: the
# machine needs Node and the Pulumi CLI, nothing else. Prints the tarball's path.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
version="$(node -p "require('$repo/package.json').version")"
sdk="$(node -p "require('$repo/package.json').devDependencies['@pulumi/pulumi']")"
out="$repo/dist-plugin"
stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT

[[ -f "$repo/dist/plugin/main.js" ]] || { echo "plugin:build: run npm run build first" >&2; exit 1; }
tgz="$(cd "$repo" && npm pack --ignore-scripts --silent --pack-destination "$stage")"
cat >"$stage/package.json" <<JSON
{
  "name": "pulumi-resource-etcdquota",
  "version": "$version",
  "private": true,
  "dependencies": { "pulumi-etcd-quota": "file:./$tgz", "@pulumi/pulumi": "$sdk" }
}
JSON
(cd "$stage" && npm install --omit=dev --no-audit --no-fund --prefer-offline --ignore-scripts >&2)
rm -f "$stage/$tgz" "$stage/package-lock.json"
install -m 0755 "$repo/plugin/bin/pulumi-resource-etcdquota" "$stage/pulumi-resource-etcdquota"
mkdir -p "$out"
tarball="$out/pulumi-resource-etcdquota-v$version-linux-amd64.tar.gz"
tar -czf "$tarball" -C "$stage" .
echo "$tarball"
