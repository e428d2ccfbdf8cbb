#!/usr/bin/env bash
# Runs the whole suite once per etcd version: 3.4 (Debian's etcd-server), 3.5.16 and 3.5.30 (unpacked into .cache/).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [ $# -gt 0 ]; then versions=("$@"); else versions=(3.4 3.5.16 3.5.30); fi
npm run build
for version in "${versions[@]}"; do
  bash lab/install-etcd.sh "$version"
  echo "== etcd $version"
  ETCD_VERSION="$version" npx mocha 'test/**/*.test.ts'
done
