#!/usr/bin/env bash
# Makes the Pulumi CLI available to the demo, the tests and the benchmarks: `bash lab/install-pulumi.sh`.
# Its last line on stdout is the folder that holds `pulumi`, `pulumi-language-nodejs`, the dynamic-provider
# launcher `pulumi-resource-pulumi-nodejs` and the YAML language host `pulumi-language-yaml`; progress lines go to
# stderr.
#
# A `pulumi` on PATH is used when it reports a version in the supported range and its Node language host is beside it.
# Otherwise the pinned release is built from its Go modules into a versioned cache folder outside the repository,
# ${XDG_CACHE_HOME:-~/.cache}/pulumi-etcd-quota/pulumi/v<version>/, which later runs and CI reuse. The build's own
# output goes to a log file in that folder. Needs Go >= 1.25 for the build; the Go module and build caches are Go's
# own (GOMODCACHE, GOCACHE), so a second version builds from the modules already downloaded.
set -euo pipefail

# The release the project is tested with.
readonly PINNED=3.248.0
# The Node language host of a release is its own Go module (sdk/nodejs/cmd/pulumi-language-nodejs/v3) since 3.69, and
# the module proxy these machines reach refuses that module at every version ("403 Forbidden: This module version is
# not available"). Up to 3.68 the host was a package of the sdk/v3 module, which the proxy serves, so that is the one
# built. It only starts the program (`node @pulumi/pulumi/cmd/run`, from the program's own @pulumi/pulumi); the
# engine, the state and the dynamic-provider host are the pinned release's. The CLI falls back to the older RPCs for
# it as it does for any separately released language host.
readonly HOST_SDK=3.68.0
# The YAML language host, built beside the pinned CLI for the plugin's YAML tests (test/cli/yaml.test.ts). Its own Go
# module, github.com/pulumi/pulumi-yaml, which the module proxy serves; 1.25.0 builds against the pinned CLI's sdk.
readonly YAML_HOST=1.25.0
# A CLI on PATH is used from this version on: 3.146 is the first to show a dynamic provider's progress lines again,
# and the programs' @pulumi/pulumi >= 3.216 needs a CLI at least as new.
readonly MIN_SUPPORTED=3.216.0
# pkg/go.mod's one replace that is not a local path; the wrapper module must repeat it or the build takes a clipboard
# module that does not compile with the rest.
readonly CLIPBOARD_REPLACE="github.com/atotto/clipboard => github.com/tgummerer/clipboard v0.0.0-20241001131231-d02d263e614e"

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${PULUMI_ETCD_QUOTA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pulumi-etcd-quota}/pulumi/v$PINNED"
bin="$cache/bin"

say() { echo "install-pulumi: $*" >&2; }
die() {
  echo "install-pulumi: $*" >&2
  exit 1
}

# "3.248.0" from `pulumi version` ("v3.248.0"), or nothing when it does not run.
cli_version() {
  "$1" version 2>/dev/null | sed -n 's/^v\([0-9][0-9.]*\).*/\1/p' | head -n 1
}

# True when version $1 >= version $2.
version_at_least() {
  [[ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -n 1)" == "$2" ]]
}

# The dynamic-provider launcher ships inside the npm package @pulumi/pulumi; the repository's own copy (npm ci) is the
# one the tests pin. It runs the host found from the program's folder, so the version that runs is the program's.
install_launcher() {
  local dest="$1"
  local launcher="$repo/node_modules/@pulumi/pulumi/pulumi-resource-pulumi-nodejs"
  [[ -x "$dest/pulumi-resource-pulumi-nodejs" ]] && return
  [[ -r "$launcher" ]] || die "$launcher is missing: run npm ci in $repo first"
  install -m 0755 "$launcher" "$dest/pulumi-resource-pulumi-nodejs"
}

use_path_cli() {
  local found version
  found="$(command -v pulumi 2>/dev/null)" || return 1
  version="$(cli_version "$found")"
  if [[ -z "$version" ]] || ! version_at_least "$version" "$MIN_SUPPORTED" || [[ "$version" != 3.* ]]; then
    say "ignoring $found: it reports '${version:-no version}', and the project supports 3.x from $MIN_SUPPORTED"
    return 1
  fi
  local dir
  dir="$(dirname "$(readlink -f "$found")")"
  if [[ ! -x "$dir/pulumi-language-nodejs" ]] && ! command -v pulumi-language-nodejs >/dev/null; then
    say "ignoring $found: no pulumi-language-nodejs beside it or on PATH"
    return 1
  fi
  if [[ ! -x "$dir/pulumi-resource-pulumi-nodejs" ]] && ! command -v pulumi-resource-pulumi-nodejs >/dev/null; then
    say "ignoring $found: no pulumi-resource-pulumi-nodejs beside it or on PATH"
    return 1
  fi
  [[ "$version" == "$PINNED" ]] || say "using pulumi $version from $dir (the tests pin $PINNED)"
  echo "$dir"
}

built_ok() {
  [[ "$(cli_version "$bin/pulumi")" == "$PINNED" && -x "$bin/pulumi-language-nodejs" ]]
}

build_pinned() {
  command -v go >/dev/null ||
    die "no pulumi $MIN_SUPPORTED+ on PATH and no Go to build one: install the Pulumi CLI (3.x, >= $MIN_SUPPORTED) or Go >= 1.25"
  local go_version
  go_version="$(go env GOVERSION | sed 's/^go//')"
  version_at_least "$go_version" 1.25 || die "Go $go_version is too old to build pulumi $PINNED: it needs Go >= 1.25"

  mkdir -p "$cache"
  local log="$cache/build.log"
  local work
  work="$(mktemp -d "$cache/.build.XXXXXX")"
  # shellcheck disable=SC2064 # expand now: the trap must remove this build's folder
  trap "rm -rf '$work'" EXIT
  : >"$log"
  say "building pulumi $PINNED and its Node language host from Go modules (the first build takes about 10 minutes on 2 cores); build log: $log"

  # Two wrapper modules: the CLI and the host need different versions of the same sdk/v3 module.
  mkdir -p "$work/cli" "$work/host"
  printf 'module pulumi-etcd-quota/pulumi-cli\n\ngo 1.25.11\n\nreplace %s\n' "$CLIPBOARD_REPLACE" >"$work/cli/go.mod"
  printf 'module pulumi-etcd-quota/pulumi-language-nodejs\n\ngo 1.25.11\n' >"$work/host/go.mod"
  local cli_pkg=github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
  local host_pkg=github.com/pulumi/pulumi/sdk/v3/nodejs/cmd/pulumi-language-nodejs
  local version_var=github.com/pulumi/pulumi/sdk/v3/go/common/version.Version
  export GOFLAGS=-mod=mod
  say "step 1/4: resolving the CLI's modules"
  (cd "$work/cli" && go get "$cli_pkg@v$PINNED" "github.com/pulumi/pulumi/sdk/v3@v$PINNED") >>"$log" 2>&1 ||
    die "resolving the CLI's modules failed; see $log"
  say "step 2/4: building pulumi (the longest step)"
  (cd "$work/cli" && go build -trimpath -ldflags "-X $version_var=v$PINNED" -o "$work/bin/pulumi" "$cli_pkg") \
    >>"$log" 2>&1 || die "building pulumi failed; see $log"
  say "step 3/4: resolving the Node language host's modules"
  (cd "$work/host" && go get "$host_pkg@v$HOST_SDK") >>"$log" 2>&1 ||
    die "resolving the language host's modules failed; see $log"
  say "step 4/4: building pulumi-language-nodejs"
  (cd "$work/host" && go build -trimpath -ldflags "-X $version_var=v$HOST_SDK" \
    -o "$work/bin/pulumi-language-nodejs" "$host_pkg") >>"$log" 2>&1 ||
    die "building pulumi-language-nodejs failed; see $log"
  [[ "$(cli_version "$work/bin/pulumi")" == "$PINNED" ]] || die "the built pulumi does not report v$PINNED; see $log"
  # Swap in the whole folder at once: an interrupted build never leaves a half-built version that looks complete.
  rm -rf "$bin"
  mv "$work/bin" "$bin"
  say "built pulumi $PINNED in $bin"
}

# Built apart from the CLI, into the same folder, so a CLI built before the YAML host was pinned is kept.
build_yaml_host() {
  [[ -x "$bin/pulumi-language-yaml" ]] && return
  command -v go >/dev/null || die "no Go to build pulumi-language-yaml $YAML_HOST: install Go >= 1.25"
  local log="$cache/build-yaml.log"
  local work
  work="$(mktemp -d "$cache/.build-yaml.XXXXXX")"
  # shellcheck disable=SC2064 # expand now: the trap must remove this build's folder
  trap "rm -rf '$work'" EXIT
  say "building pulumi-language-yaml $YAML_HOST from its Go module (about 2 minutes the first time); build log: $log"
  local yaml_pkg=github.com/pulumi/pulumi-yaml/cmd/pulumi-language-yaml
  printf 'module pulumi-etcd-quota/pulumi-language-yaml\n\ngo 1.25.11\n' >"$work/go.mod"
  (cd "$work" && GOFLAGS=-mod=mod go get "$yaml_pkg@v$YAML_HOST") >"$log" 2>&1 ||
    die "resolving pulumi-language-yaml's modules failed; see $log"
  (cd "$work" && GOFLAGS=-mod=mod go build -trimpath \
    -ldflags "-X github.com/pulumi/pulumi-yaml/pkg/version.Version=v$YAML_HOST" \
    -o "$work/pulumi-language-yaml" "$yaml_pkg") >>"$log" 2>&1 || die "building pulumi-language-yaml failed; see $log"
  mv "$work/pulumi-language-yaml" "$bin/pulumi-language-yaml"
  say "built pulumi-language-yaml $YAML_HOST in $bin"
}

if [[ "${PULUMI_ETCD_QUOTA_BUILD:-}" != 1 ]] && dir="$(use_path_cli)"; then
  if [[ ! -x "$dir/pulumi-language-yaml" ]] && ! command -v pulumi-language-yaml >/dev/null; then
    say "note: no pulumi-language-yaml beside $dir/pulumi or on PATH: the YAML program tests need it"
  fi
  echo "$dir"
  exit 0
fi
if built_ok; then
  say "pulumi $PINNED is already built in $bin"
else
  build_pinned
fi
install_launcher "$bin"
build_yaml_host
echo "$bin"
