#!/usr/bin/env bash
# Runs the whole suite once per etcd version: `bash lab/test-matrix.sh [VERSION...]`, by default 3.4 (Debian's
# etcd-server), 3.5.16 (Debian's trixie), the newest 3.5, 3.6 and 3.7 (built from Go modules).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [ $# -gt 0 ]; then versions=("$@"); else versions=(3.4 3.5.16 3.5.35 3.6.16 3.7.3); fi
npm run build
for version in "${versions[@]}"; do
  bash lab/install-etcd.sh "$version"
  echo "== etcd $version"
  ETCD_VERSION="$version" npx mocha 'test/**/*.test.ts'
done
