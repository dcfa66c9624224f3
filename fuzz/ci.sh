#!/usr/bin/env bash
# CI: builds the fuzz targets with coverage instrumentation (stable Rust, see
# .cargo/config.toml here) and fuzzes each for a bounded time, starting from its committed
# corpus. Fails on any crash, after printing the target's log and the crashing input.
#
#   FUZZ_SECONDS   seconds per target (default 20)
#   FUZZ_TARGETS   which targets (default: all of fuzz_targets/)
#
# Open bugs listed in src/known.rs are let through (HERD_FUZZ_STRICT=1 makes them crash).
# New inputs go to a temporary directory, never into the committed corpus.
set -euo pipefail
cd "$(dirname "$0")"

need() { command -v "$1" >/dev/null 2>&1; }
if ! need cargo; then
  echo "fuzz/ci.sh: cargo is missing; install a stable Rust toolchain" >&2
  exit 1
fi
# libfuzzer-sys compiles libFuzzer's C++ sources with the system compiler.
if ! need c++ && ! need g++ && ! need clang++; then
  echo "fuzz/ci.sh: no C++ compiler (c++, g++ or clang++); libFuzzer is built from C++" >&2
  exit 1
fi

seconds="${FUZZ_SECONDS:-20}"
read -r -a targets <<<"${FUZZ_TARGETS:-$(ls fuzz_targets | sed 's/\.rs$//' | tr '\n' ' ')}"
host="$(rustc -vV | sed -n 's/^host: //p')"
bin_dir="${CARGO_TARGET_DIR:-$PWD/target}/$host/release"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

started=$SECONDS
echo "fuzz: building ${#targets[@]} targets with coverage instrumentation"
cargo build --release --locked $(printf -- '--bin %s ' "${targets[@]}")
built=$SECONDS
echo "fuzz: built in $((built - started)) s; fuzzing each target for $seconds s"

failed=()
printf '%-14s %-6s %12s %9s %8s %7s\n' target result executions exec/s corpus new
for target in "${targets[@]}"; do
  log="$scratch/$target.log"
  status=ok
  FUZZ_FINDS="$scratch/finds-$target" bash run.sh "$bin_dir/$target" \
    -max_total_time="$seconds" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
    >"$log" 2>&1 || status=CRASH
  stat() { sed -n "s/^stat::$1: *//p" "$log" | tail -1; }
  corpus="$(grep -o 'corp: [0-9]*' "$log" | tail -1 | sed 's/corp: //')"
  printf '%-14s %-6s %12s %9s %8s %7s\n' "$target" "$status" "$(stat number_of_executed_units)" \
    "$(stat average_exec_per_sec)" "${corpus:-?}" "$(stat new_units_added)"
  if [[ $status != ok ]]; then
    failed+=("$target")
    echo "---- $target: last lines of its log ----"
    tail -n 60 "$log"
    echo "---- crash inputs are in fuzz/target/crashes/$target/ ----"
  fi
done
echo "fuzz: ${#targets[@]} targets, $((SECONDS - built)) s fuzzing, $((SECONDS - started)) s in all"

if [[ ${#failed[@]} -gt 0 ]]; then
  echo "fuzz: crashes in: ${failed[*]}" >&2
  exit 1
fi
