#!/usr/bin/env bash
# CPU time the servers spend per IAMAT, for A/B comparisons of server builds on a shared machine
# (throughput moves with the machine's phase; CPU per request moves much less).
#
#   bash bench/cpu_per_iamat.sh solo BIN [BIN...]   # one server, 50 connections at depth 16
#   bash bench/cpu_per_iamat.sh herd BIN [BIN...]   # the 2023 five-server herd, load into Bailey
#   ROUNDS=3 DURATION=5s ...                         # rounds alternate the builds
#   bash bench/cpu_per_iamat.sh solo BIN http:BIN    # the second one serves HTTP too, with
#                                                    # /metrics scraped every second and one
#                                                    # /events subscriber during the load
#                                                    # (HTTP_EVENTS=0: no subscriber)
#   bash bench/cpu_per_iamat.sh herd BIN tree:BIN    # the second herd with broadcast = "tree"
#
# Each BIN is a `herd` binary serving the servers; the load tool is this checkout's release
# build (`cargo build --release` first). For each run it prints the throughput and the servers' user+system CPU (from
# /proc/PID/stat) divided by the IAMATs answered; with `herd`, per server too.
set -euo pipefail
MODE=${1:?solo or herd}
shift
(($# > 0)) || { echo "usage: $0 solo|herd BIN [BIN...]" >&2; exit 2; }
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5s}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TOOL="$ROOT/target/release/herd"
[[ -x $TOOL ]] || { echo "build the load tool first: cargo build --release" >&2; exit 2; }
TICKS=$(getconf CLK_TCK)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/herd-cpu.XXXXXX")
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT
export HERD_SECRET=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')

cpu() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
wait_listen() {
    local deadline=$((SECONDS + 30))
    until (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; do
        ((SECONDS < deadline)) || { echo "nothing listens on port $1" >&2; exit 1; }
        sleep 0.1
    done
}

# run BIN PORT: one measured run.
run() {
    local bin=$1 base=$2 dir names neighbours i http=0 watchers=() broadcast=flood label=$1
    while [[ $bin == http:* || $bin == tree:* ]]; do
        [[ $bin == http:* ]] && http=1
        [[ $bin == tree:* ]] && broadcast=tree
        bin=${bin#*:}
    done
    dir=$(mktemp -d "$WORK/run.XXXX")
    if [[ $MODE == solo ]]; then
        names=(Solo)
        neighbours=('')
    else
        names=(Bailey Bona Campbell Clark Jaquez)
        neighbours=('"Bona", "Campbell"' '"Bailey", "Campbell", "Clark"' '"Bailey", "Bona", "Jaquez"'
            '"Bona", "Jaquez"' '"Campbell", "Clark"')
    fi
    {
        printf '[storage]\ndir = "%s/data"\n[herd]\nsecret_env = "HERD_SECRET"\nbroadcast = "%s"\n' "$dir" "$broadcast"
        for i in "${!names[@]}"; do
            printf '\n[[servers]]\nname = "%s"\nlisten = "127.0.0.1:%s"\nneighbours = [%s]\n' \
                "${names[$i]}" $((base + i)) "${neighbours[$i]}"
            ((http)) && printf 'http = "127.0.0.1:%s"\n' $((base + 5 + i))
        done
    } >"$dir/herd.toml"
    local pids=()
    for i in "${!names[@]}"; do
        "$bin" serve "${names[$i]}" --config "$dir/herd.toml" >"$dir/${names[$i]}.out" 2>&1 &
        pids+=("$!")
        PIDS+=("$!")
        wait_listen $((base + i))
    done
    if [[ $MODE == herd ]]; then
        # Every link up before the load.
        "$TOOL" bench propagation --config "$dir/herd.toml" -n 5 --timeout 10s --json --quiet >/dev/null
    fi
    if ((http)); then
        if [[ ${HTTP_EVENTS:-1} == 1 ]]; then
            curl -sN "http://127.0.0.1:$((base + 5))/events" >/dev/null 2>&1 &
            watchers+=("$!")
        fi
        (while :; do curl -s "http://127.0.0.1:$((base + 5))/metrics" >/dev/null 2>&1; sleep 1; done) &
        watchers+=("$!")
        PIDS+=("${watchers[@]}")
    fi
    local before=() after=() out ok total=0
    for pid in "${pids[@]}"; do before+=("$(cpu "$pid")"); done
    out=$("$TOOL" bench iamat --target "127.0.0.1:$base" -c 50 -P 16 -d "$DURATION" --json --quiet)
    for pid in "${pids[@]}"; do after+=("$(cpu "$pid")"); done
    for pid in "${watchers[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
    ok=$(jq -r .ok <<<"$out")
    local line
    line=$(printf '%-40s %10.0f IAMAT/s' "${label%"$bin"}$(basename "$bin")" "$(jq -r .throughput <<<"$out")")
    for i in "${!names[@]}"; do
        local d=$((after[i] - before[i]))
        total=$((total + d))
        [[ $MODE == herd ]] && line+=$(printf '  %s %.2f' "${names[$i]}" "$(awk -v d="$d" -v n="$ok" -v t="$TICKS" 'BEGIN { print d * 1e6 / t / n }')")
    done
    line+=$(printf '  total %.2f us/IAMAT' "$(awk -v d="$total" -v n="$ok" -v t="$TICKS" 'BEGIN { print d * 1e6 / t / n }')")
    echo "$line"
    for pid in "${pids[@]}"; do kill "$pid"; wait "$pid" 2>/dev/null || true; done
}

BASE=$((11000 + (RANDOM % 400) * 20))
for round in $(seq "$ROUNDS"); do
    for bin in "$@"; do
        run "$bin" "$BASE"
        BASE=$((BASE + 10))
    done
done
