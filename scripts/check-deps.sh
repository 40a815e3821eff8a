#!/usr/bin/env bash
# Architecture invariant: the primitive crates and the repo engine do no I/O of their own and
# know nothing of async runtimes, databases, HTTP or the tunnel. `cargo tree -i X -p C` prints
# the path from C to X when C depends on X (directly or not); it must print nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
pure_crates=(syntax data-model crypto repo identity lexicon oauth)
forbidden=(tokio sqlx rusqlite axum iroh hyper reqwest)
fail=0
# Self-check: the same command must see a dependency that does exist, or the check proves nothing.
if [ -z "$(cargo tree -q -e normal,build -p repo -i data-model 2>/dev/null)" ]; then
  echo "check-deps: cargo tree did not report repo -> data-model; the check is broken"
  exit 1
fi
for c in "${pure_crates[@]}"; do
  for f in "${forbidden[@]}"; do
    # -e normal,build: dev-dependencies (test harnesses) do not count.
    out=$(cargo tree -q -e normal,build -p "$c" -i "$f" 2>/dev/null || true)
    if [ -n "$out" ]; then
      echo "dependency invariant broken: $c depends on $f:"
      echo "$out"
      fail=1
    fi
  done
done
# Unsafe code is denied workspace-wide; the one exception is the raw SQLite handle of the
# commit path (docs/decisions/0003-commit-path-on-the-raw-sqlite-handle.md).
allowed_unsafe="crates/store/src/sqlite_commit.rs"
others=$(grep -rln --include='*.rs' 'allow(unsafe_code)' crates relay fuzz 2>/dev/null | grep -vx "$allowed_unsafe" || true)
if [ -n "$others" ]; then
  echo "unsafe code allowed outside $allowed_unsafe:"
  echo "$others"
  fail=1
fi
if [ "$fail" = 0 ]; then
  echo "dependency invariant ok: ${pure_crates[*]} do not depend on ${forbidden[*]}"
fi
exit "$fail"
