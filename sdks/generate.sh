#!/usr/bin/env bash
# `npm run sdk:generate`: the SDKs in sdks/{nodejs,python,go}, made from plugin/schema.json by the code generators
# of the Pulumi CLI the project pins (sdks/generator/main.go over github.com/pulumi/pulumi/pkg/v3/codegen). The
# generator is built once per CLI version and source into ${XDG_CACHE_HOME:-~/.cache}/pulumi-etcd-quota/
# sdk-generator/, outside the repository; Go's own module and build caches serve it. Progress goes to stderr.
#
#   bash sdks/generate.sh [OUT_DIR]    # default: sdks/ of this repository
#
# test/plugin/sdks.test.ts runs it into a temporary folder and fails while the committed SDKs differ from what it makes.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-$repo/sdks}"
# The codegen packages of the very CLI the tests run (lab/install-pulumi.sh pins it).
pinned="$(sed -n 's/^readonly PINNED=//p' "$repo/lab/install-pulumi.sh")"
[[ -n "$pinned" ]] || { echo "sdk:generate: no PINNED version in lab/install-pulumi.sh" >&2; exit 1; }
source_hash="$(sha256sum "$repo/sdks/generator/main.go" | cut -c1-16)"
cache="${PULUMI_ETCD_QUOTA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pulumi-etcd-quota}/sdk-generator/v$pinned-$source_hash"
generator="$cache/generator"

if [[ ! -x "$generator" ]]; then
  command -v go >/dev/null || { echo "sdk:generate: needs Go >= 1.25 to build the generator" >&2; exit 1; }
  mkdir -p "$cache"
  work="$(mktemp -d "$cache/.build.XXXXXX")"
  trap 'rm -rf "$work"' EXIT
  echo "sdk:generate: building the generator over pkg/v3 v$pinned (once; log: $cache/build.log)" >&2
  printf 'module pulumi-etcd-quota/sdk-generator\n\ngo 1.25.11\n' >"$work/go.mod"
  cp "$repo/sdks/generator/main.go" "$work/main.go"
  (cd "$work" && GOFLAGS=-mod=mod go get "github.com/pulumi/pulumi/pkg/v3@v$pinned" \
    "github.com/pulumi/pulumi/sdk/v3@v$pinned" && GOFLAGS=-mod=mod go build -trimpath -o "$work/generator" .) \
    >"$cache/build.log" 2>&1 || { echo "sdk:generate: building the generator failed; see $cache/build.log" >&2; exit 1; }
  mv "$work/generator" "$generator"
  # Builds of an earlier generator source are never used again.
  find "$(dirname "$cache")" -mindepth 1 -maxdepth 1 -name "v$pinned-*" ! -name "$(basename "$cache")" \
    -exec rm -rf {} +
fi

mkdir -p "$out"
"$generator" "$repo/plugin/schema.json" "$out" nodejs python go
echo "$out"
