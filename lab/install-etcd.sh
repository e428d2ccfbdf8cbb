#!/usr/bin/env bash
# Installs the etcd the lab runs: `bash lab/install-etcd.sh [VERSION]`, VERSION 3.4, or any 3.5.x, 3.6.x or 3.7.x
# release (default: the pinned newest 3.7, $DEFAULT_VERSION below).
#
# 3.4 is the distribution's own package in /usr/bin. 3.5.16 and 3.5.30 are taken from a newer Debian suite and
# unpacked into <repo>/.cache/etcd/<version>/ with a private apt state, so the system's apt configuration and installed
# packages stay untouched. The Debian mirror is the one this machine already uses (the deb822 file in
# /etc/apt/sources.list.d, or $ETCD_LAB_DEBIAN_MIRROR). Every other 3.5.x, 3.6.x and 3.7.x is built from the Go module
# proxy (etcd, etcdctl and etcdutl of that release, about 1.5 minutes on 2 cores; 3.7 needs Go 1.26) into
# ${XDG_CACHE_HOME:-~/.cache}/pulumi-etcd-quota/etcd/<version>/usr/bin, outside the repository, so later runs and CI
# reuse it. Running it again once the version is in place does nothing.
set -euo pipefail

readonly KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
readonly SOURCES=/etc/apt/sources.list.d/debian.sources

# The newest release on the Go module proxy when it was pinned (2026-12); lab/etcd-binary.ts and lab/test-matrix.sh
# name the same one, and the matrix the newest 3.6 (3.6.16) and 3.5 (3.5.35) as well.
readonly DEFAULT_VERSION=3.7.3
version="${1:-$DEFAULT_VERSION}"
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Scratch folder for the download; global so the exit trap still sees it.
work=""
trap '[[ -z "$work" ]] || rm -rf "$work"' EXIT

die() {
  echo "install-etcd: $*" >&2
  exit 1
}
say() { echo "install-etcd: $*"; }

# Prints the "X.Y.Z" that an etcd binary reports, or nothing when it does not run.
binary_version() {
  "$1" --version 2>/dev/null | sed -n 's/^etcd Version: //p' || true
}

install_system_34() {
  local have
  have="$(binary_version /usr/bin/etcd)"
  if [[ "$have" == 3.4.* && -x /usr/bin/etcdctl ]]; then
    say "etcd $have is already installed in /usr/bin; nothing to do"
    return
  fi
  if [[ -n "$have" && "$have" != 3.4.* ]]; then
    die "/usr/bin/etcd is etcd $have, not 3.4; remove it (apt-get remove etcd-server etcd-client) or pick that version"
  fi
  if [[ "$(id -u)" -ne 0 ]]; then
    die "etcd 3.4 is not installed; as root run: apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y etcd-server etcd-client"
  fi
  # A fresh container has no package lists: only then is an update needed.
  if ! apt-cache policy etcd-server 2>/dev/null | grep -q 'Candidate: [0-9]'; then
    say "running apt-get update"
    apt-get update
  fi
  say "installing etcd-server and etcd-client with apt-get"
  DEBIAN_FRONTEND=noninteractive apt-get install -y etcd-server etcd-client
  have="$(binary_version /usr/bin/etcd)"
  [[ "$have" == 3.4.* ]] || die "apt-get installed etcd '${have:-unknown}' in /usr/bin, not 3.4"
  say "installed etcd $have in /usr/bin"
}

# The first URI of the stanza that serves the main suites (bookworm, bookworm-updates), not the security archive.
debian_mirror() {
  if [[ -n "${ETCD_LAB_DEBIAN_MIRROR:-}" ]]; then
    echo "$ETCD_LAB_DEBIAN_MIRROR"
    return
  fi
  [[ -r "$SOURCES" ]] || die "no $SOURCES to take the Debian mirror from; set ETCD_LAB_DEBIAN_MIRROR to a Debian archive URL"
  awk '
    function flush() { if (uri != "" && main) { print uri; found = 1; exit } uri = ""; main = 0 }
    /^[[:space:]]*$/ { flush(); next }
    /^URIs:/ { uri = $2 }
    /^Suites:/ { for (i = 2; i <= NF; i++) if ($i !~ /-security$/) main = 1 }
    END { if (!found) flush() }
  ' "$SOURCES"
}

install_cached_35() {
  local suite="$1"
  local dest="$repo/.cache/etcd/$version"
  local have
  have="$(binary_version "$dest/usr/bin/etcd")"
  if [[ "$have" == "$version" && -x "$dest/usr/bin/etcdctl" ]]; then
    say "etcd $version is already in $dest; nothing to do"
    return
  fi
  command -v dpkg-deb >/dev/null || die "dpkg-deb is needed to unpack the package (a Debian-based system)"
  [[ -r "$KEYRING" ]] || die "$KEYRING is missing; install debian-archive-keyring"
  local mirror
  mirror="$(debian_mirror)"
  [[ -n "$mirror" ]] || die "found no URIs line for the main archive in $SOURCES; set ETCD_LAB_DEBIAN_MIRROR"

  local state="$repo/.cache/etcd/apt/$suite"
  mkdir -p "$state/lists/partial" "$state/archives/partial"
  echo "deb [signed-by=$KEYRING] $mirror $suite main" >"$state/sources.list"
  # Only this suite, its own lists and cache, and no installed packages mixed into the version table.
  # The sandbox user is whoever runs this: apt's _apt user cannot write into the repository's cache folder.
  local apt_opts=(
    -o "Dir::Etc::sourcelist=$state/sources.list"
    -o "Dir::Etc::sourceparts=-"
    -o "Dir::State::Lists=$state/lists"
    -o "Dir::Cache=$state"
    -o "Dir::State::status=/dev/null"
    -o "APT::Sandbox::User=$(id -un)"
  )
  say "fetching the $suite package list from $mirror (private apt state in $state)"
  apt-get "${apt_opts[@]}" -q update >/dev/null || die "apt-get update for $suite failed (see the messages above)"

  # Debian revisions vary (3.5.16-4, 3.5.30-2): match the upstream version.
  local pkg_version
  pkg_version="$(apt-cache "${apt_opts[@]}" madison etcd-server |
    awk -F'|' -v want="$version" '{ gsub(/ /, "", $2); if (index($2, want "-") == 1 || index($2, want "+") == 1) { print $2; exit } }')"
  if [[ -z "$pkg_version" ]]; then
    die "Debian $suite has no etcd-server $version; it offers: $(apt-cache "${apt_opts[@]}" madison etcd-server | awk -F'|' '{ printf "%s", $2 }')"
  fi

  mkdir -p "$(dirname "$dest")"
  work="$(mktemp -d "$(dirname "$dest")/.unpack.XXXXXX")"
  say "downloading etcd-server and etcd-client $pkg_version"
  (cd "$work" && apt-get "${apt_opts[@]}" -q download "etcd-server=$pkg_version" "etcd-client=$pkg_version") ||
    die "apt-get download of etcd $pkg_version failed"
  mkdir "$work/root"
  local deb
  for deb in "$work"/*.deb; do
    dpkg-deb -x "$deb" "$work/root"
  done
  have="$(binary_version "$work/root/usr/bin/etcd")"
  [[ "$have" == "$version" ]] || die "the unpacked etcd reports version '${have:-none}', expected $version"
  "$work/root/usr/bin/etcdctl" version >/dev/null || die "the unpacked etcdctl does not run"

  # Swap in the complete tree at once so an interrupted run never leaves a half-unpacked version behind.
  rm -rf "$dest"
  mv "$work/root" "$dest"
  say "installed etcd $have in $dest (etcd, etcdctl, etcdutl in usr/bin)"
}

# 3.5, 3.6 and 3.7 all put the server's main package at the root of go.etcd.io/etcd/server/v3; a wrapper module pins
# all three commands to the release (their own go.mod files replace siblings with local paths, which `go install`
# refuses; the modules outside the repository, go.etcd.io/raft/v3 for 3.6 and 3.7, come at the versions the release's
# go.mod files require), and Go's own caches (GOMODCACHE, GOCACHE) make a second version quick.
install_built() {
  local dest="${PULUMI_ETCD_QUOTA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pulumi-etcd-quota}/etcd/$version"
  local have
  have="$(binary_version "$dest/usr/bin/etcd")"
  if [[ "$have" == "$version" && -x "$dest/usr/bin/etcdctl" && -x "$dest/usr/bin/etcdutl" ]]; then
    say "etcd $version is already in $dest; nothing to do"
    return
  fi
  command -v go >/dev/null || die "etcd $version is built from Go modules: install Go >= 1.24 (>= 1.26 for 3.7)"
  mkdir -p "$(dirname "$dest")"
  work="$(mktemp -d "$(dirname "$dest")/.build.XXXXXX")"
  local log="$(dirname "$dest")/build-$version.log"
  printf 'module pulumi-etcd-quota/etcd\n\ngo 1.24\n' >"$work/go.mod"
  say "building etcd, etcdctl and etcdutl $version from Go modules (about 1.5 minutes the first time); log: $log"
  (
    cd "$work"
    export GOFLAGS=-mod=mod
    go get "go.etcd.io/etcd/server/v3@v$version" "go.etcd.io/etcd/etcdctl/v3@v$version" \
      "go.etcd.io/etcd/etcdutl/v3@v$version"
    mkdir -p root/usr/bin
    go build -trimpath -o root/usr/bin/etcd go.etcd.io/etcd/server/v3
    go build -trimpath -o root/usr/bin/etcdctl go.etcd.io/etcd/etcdctl/v3
    go build -trimpath -o root/usr/bin/etcdutl go.etcd.io/etcd/etcdutl/v3
  ) >"$log" 2>&1 || die "the build failed: $(tail -n 5 "$log")"
  have="$(binary_version "$work/root/usr/bin/etcd")"
  [[ "$have" == "$version" ]] || die "the built etcd reports version '${have:-none}', expected $version"
  # Swap in the complete tree at once so an interrupted run never leaves a half-built version behind.
  rm -rf "$dest"
  mv "$work/root" "$dest"
  say "installed etcd $have in $dest (etcd, etcdctl, etcdutl in usr/bin)"
}

case "$version" in
  3.4) install_system_34 ;;
  3.5.16) install_cached_35 trixie ;;
  3.5.30) install_cached_35 sid ;;
  3.5.[0-9]* | 3.6.[0-9]* | 3.7.[0-9]*) install_built ;;
  *) die "unsupported version '$version'; use 3.4 or a 3.5.x, 3.6.x or 3.7.x release (e.g. $DEFAULT_VERSION)" ;;
esac
