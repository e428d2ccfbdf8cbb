#!/usr/bin/env bash
# Runs every test of the given mocha files alone, one fresh mocha process per test (`--grep '^<its full title>$'`),
# so a test that leans on state an earlier test left (a cluster filled, a lock held, a host configured) fails here.
#
#   bash lab/each-test-alone.sh test/etcd/lock.test.ts               # every test of the file, each alone
#   bash lab/each-test-alone.sh -l test/etcd/lock.test.ts            # only list the full titles
#   bash lab/each-test-alone.sh -m 'NOSPACE|lease' test/etcd/lock.test.ts   # only the titles this JS regex matches
#
# Titles come from `mocha --dry-run` with the json reporter (no hook or test runs). A test passes here when its
# process exits 0 and mocha reports exactly one test, passed. One line per test: PASS/FAIL, seconds, title; the log of
# a failing test is kept and its path printed. Exits 1 when any test failed. Run `npm run build` first for the tests
# that load the provider from dist/.
set -uo pipefail

usage() {
  echo "usage: $0 [-l] [-m <title regex>] <test file>..." >&2
  exit 2
}

list_only=0
match=""
while getopts "lm:" opt; do
  case "$opt" in
    l) list_only=1 ;;
    m) match="$OPTARG" ;;
    *) usage ;;
  esac
done
shift $((OPTIND - 1))
[ $# -ge 1 ] || usage
for file in "$@"; do
  case "$file" in -*) echo "options go before the files: $file" >&2 && usage ;; esac
done

cd "$(dirname "$0")/.." || exit 2
work="$(mktemp -d "${TMPDIR:-/tmp}/each-test-alone-XXXXXX")"
keep=0
trap '[ "$keep" = 1 ] || rm -rf "$work"' EXIT

failed=0
passed=0
for file in "$@"; do
  dry="$work/dry.json"
  if ! npx mocha "$file" --dry-run --reporter json --reporter-option "output=$dry" >"$work/dry.log" 2>&1; then
    echo "cannot list the tests of $file:" >&2
    cat "$work/dry.log" >&2
    exit 2
  fi
  # One line per test: the anchored, escaped --grep pattern, a tab, the full title.
  MATCH="$match" node -e '
    const { tests } = require(process.argv[1]);
    const only = process.env.MATCH ? new RegExp(process.env.MATCH) : undefined;
    const escape = (text) => text.replace(/[.*+?^${}()|[\]\\\/]/g, "\\$&");
    for (const { fullTitle } of tests) {
      if (!only || only.test(fullTitle)) console.log(`^${escape(fullTitle)}$\t${fullTitle}`);
    }
  ' "$dry" >"$work/titles.tsv" || exit 2

  echo "== $file: $(wc -l <"$work/titles.tsv") tests"
  n=0
  while IFS=$'\t' read -r pattern title; do
    n=$((n + 1))
    if [ "$list_only" = 1 ]; then
      echo "$title"
      continue
    fi
    result="$work/result-$n.json"
    log="$work/$(basename "$file")-$n.log"
    started=$(date +%s.%N)
    npx mocha "$file" --grep "$pattern" --reporter json --reporter-option "output=$result" >"$log" 2>&1 </dev/null
    code=$?
    seconds=$(awk -v s="$started" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')
    verdict=$(node -e '
      try {
        const { stats, failures } = require(process.argv[1]);
        const ran = stats.passes + stats.failures + stats.pending;
        if (stats.passes === 1 && ran === 1) console.log("ok");
        else console.log(`${stats.passes} passed, ${stats.failures} failed, ${stats.pending} pending` +
          failures.map((f) => `\n      ${f.fullTitle}: ${String(f.err.message).split("\n")[0]}`).join(""));
      } catch (error) {
        console.log(`no result (${error.message.split("\n")[0]})`);
      }
    ' "$result" </dev/null)
    if [ "$code" = 0 ] && [ "$verdict" = ok ]; then
      passed=$((passed + 1))
      printf 'PASS %6ss  %s\n' "$seconds" "$title"
    else
      failed=$((failed + 1))
      keep=1
      printf 'FAIL %6ss  %s\n      exit %s, %s\n      log: %s\n' "$seconds" "$title" "$code" "$verdict" "$log"
    fi
  done <"$work/titles.tsv"
done

[ "$list_only" = 1 ] && exit 0
echo "$passed passed alone, $failed failed"
[ "$failed" = 0 ]
