#!/usr/bin/env bash
# Measures herd against the targets of the performance issue, side by side with Redis.
#
#   bash bench/run.sh            # every scenario, RUNS=3 runs each (about 6 minutes)
#   RUNS=5 DURATION=10s bash bench/run.sh
#   SECTIONS="herd chain" bash bench/run.sh   # some of: solo (Redis, WHATSAT) hold herd chain clients catchup
#   HERD_SERVER=/tmp/herd-old bash bench/run.sh  # servers from another build, same load tool
#
# Builds the release binary, starts every server it needs on 127.0.0.1 in a temp dir with a
# generated config, runs each scenario RUNS times, prints the median and the spread (min..max)
# of each figure, and stops everything it started on exit (even on Ctrl-C). Redis comes from
# the `redis-server` on PATH (Debian package redis-server); without it the Redis comparison is
# skipped. See BENCHMARKS.md for the method and the latest figures.
set -euo pipefail

RUNS=${RUNS:-3}
DURATION=${DURATION:-5s}
HOLD_DURATION=${HOLD_DURATION:-10s}
HOLD_CONNECTIONS=${HOLD_CONNECTIONS:-10000}
PROPAGATION_RATE=${PROPAGATION_RATE:-1000}
CLIENTS=${CLIENTS:-1000000}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
cargo build --release --quiet
HERD="$ROOT/target/release/herd"
# The servers' binary; set it to measure another build with the same load tool (before/after).
HERD_SERVER=${HERD_SERVER:-$HERD}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/herd-bench.XXXXXX")
PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Servers prove the shared secret to each other.
HERD_SECRET=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
export HERD_SECRET
# Ports: a random block of 20 from 10100, low enough that its peer ports (+10000) stay below
# the kernel's ephemeral range too (the held
# connections use thousands of those), so two runs on one machine rarely collide.
EPHEMERAL_LOW=$(awk '{ print $1 }' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
BASE=$((10100 + (RANDOM % ((EPHEMERAL_LOW - 20200) / 20)) * 20))

log() { printf '%s\n' "$*" >&2; }

# wait_listen PORT PID [OUTPUT]: polls until something accepts on 127.0.0.1:PORT (at most
# 60 s); fails at once, showing OUTPUT, when process PID has ended.
wait_listen() {
    local deadline=$((SECONDS + 60))
    until (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; do
        if ((SECONDS > deadline)) || ! kill -0 "$2" 2>/dev/null; then
            log "nothing listens on 127.0.0.1:$1 (process $2 $(kill -0 "$2" 2>/dev/null && echo 'still runs' || echo 'ended'))"
            [[ -n ${3:-} ]] && cat "$3" >&2
            exit 1
        fi
        sleep 0.1
    done
}

# start NAME CONFIG PORT: runs `herd serve NAME` in the background and waits for it.
start() {
    "$HERD_SERVER" serve "$1" --config "$2" >"$WORK/$1.out" 2>&1 &
    PIDS+=("$!")
    LAST_PID=$!
    wait_listen "$3" "$LAST_PID" "$WORK/$1.out"
}

# stop PID: stops a server this script started and waits for it.
stop() {
    kill "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

# field JSON KEY: a number from the bench tool's one-line JSON output.
field() { jq -r "$2" <<<"$1"; }

# answered JSON: the requests answered as expected per second, from the bench tool's output
# (its `throughput` counts every request sent); says on stderr how many were not.
answered() {
    local failed
    failed=$(jq -r '.requests - .ok' <<<"$1")
    ((failed == 0)) || log "  ($failed requests not answered as expected: $(jq -c '{errors, rejected, malformed, io_errors, connect_errors}' <<<"$1"))"
    jq -r '.ok / .elapsed_s' <<<"$1"
}

# summary LABEL UNIT VALUES...: prints the median and min..max of VALUES, and sets MEDIAN.
summary() {
    local label=$1 unit=$2
    shift 2
    read -r MEDIAN LOW HIGH < <(printf '%s\n' "$@" | sort -g | awk '
        { v[NR] = $1 }
        END {
            m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
            printf "%.2f %.2f %.2f\n", m, v[1], v[NR]
        }')
    printf '  %-50s median %10s %-5s spread %s..%s  (runs: %s)\n' \
        "$label" "$MEDIAN" "$unit" "$LOW" "$HIGH" "$(printf '%.2f ' "$@")"
}

# verdict OK TEXT: prints whether a target is met.
verdict() {
    if [[ $1 == 1 ]]; then printf '  => met: %s\n' "$2"; else printf '  => MISSED: %s\n' "$2"; fi
}

# log_dropped WHEN: whether Solo's I/O log has dropped lines so far (its writer warns on stderr,
# at most once a second, when it falls behind); the count is cumulative.
log_dropped() {
    sleep 1.5
    local dropped
    dropped=$(grep -o '[0-9]* lines dropped' "$WORK/Solo.out" | tail -1 | cut -d' ' -f1)
    verdict "$([[ ${dropped:-0} == 0 ]] && echo 1 || echo 0)" \
        "Solo's I/O log kept every line $1 (${dropped:-0} dropped so far)"
}

ge() { awk -v a="$1" -v b="$2" 'BEGIN { print (a >= b) ? 1 : 0 }'; }
lt() { awk -v a="$1" -v b="$2" 'BEGIN { print (a < b) ? 1 : 0 }'; }

# solo_config DATA_DIR PORT: a one-server config.
solo_config() {
    printf '[storage]\ndir = "%s"\n\n[[servers]]\nname = "Solo"\nlisten = "127.0.0.1:%s"\n' "$@"
}

# server NAME PORT NEIGHBOURS: one [[servers]] entry of a config.
server() { printf '\n[[servers]]\nname = "%s"\nlisten = "127.0.0.1:%s"\nneighbours = [%s]\n' "$@"; }

machine() {
    echo "machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(free -h | awk '/^Mem:/ { print $2 }') RAM, Linux $(uname -r)"
    echo "load tool herd $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'), servers $HERD_SERVER, $RUNS runs per figure, $DURATION per run; load tool and servers share the cores"
}

machine

# --- 1. One server, I/O logging on, against Redis ---------------------------------------
section_solo() {
    SOLO_PORT=$BASE
    solo_config "$WORK/data-solo" "$SOLO_PORT" >"$WORK/solo.toml"
    start Solo "$WORK/solo.toml" "$SOLO_PORT"
    SOLO_PID=$LAST_PID

    REDIS_PORT=$((BASE + 1))
    REDIS=0
    if command -v redis-server >/dev/null; then
        # Protected mode would refuse the connections from 127.0.0.2 and up (below).
        redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no \
            --protected-mode no \
            --dir "$WORK" --logfile "$WORK/redis.log" --daemonize no &
        PIDS+=("$!")
        REDIS_PID=$!
        wait_listen "$REDIS_PORT" "$REDIS_PID" "$WORK/redis.log"
        REDIS=1
    else
        log "redis-server not found: skipping the Redis comparison"
    fi

    echo
    echo "== 1. one server (Solo, I/O log on, fsync batch) vs Redis SET as inline lines, 50 connections (kept open at depth 1 and 16; then one per request)"
    # HERD_SCENARIO REDIS_SCENARIO DEPTH LABEL: the same load, one line each, to both.
    for mode in "iamat redis-set 1 depth 1" "iamat redis-set 16 depth 16" \
        "connect-per-request redis-connect-per-request 1 connect-per-request"; do
        read -r herd_scenario redis_scenario depth label <<<"$mode"
        # One connection per request from one source address is limited by the kernel's
        # search for a free port among the TIME_WAITs, not by the server (BENCHMARKS.md).
        sources=1
        [[ $herd_scenario == connect-per-request ]] && sources=64
        herd_runs=()
        redis_runs=()
        for _ in $(seq "$RUNS"); do
            out=$("$HERD" bench "$herd_scenario" --target "127.0.0.1:$SOLO_PORT" -c 50 \
                -P "$depth" -d "$DURATION" --source-ips "$sources" --json --quiet)
            herd_runs+=("$(answered "$out")")
            if ((REDIS)); then
                out=$("$HERD" bench "$redis_scenario" --target "127.0.0.1:$REDIS_PORT" -c 50 \
                    -P "$depth" -d "$DURATION" --source-ips "$sources" --json --quiet)
                redis_runs+=("$(answered "$out")")
            fi
        done
        summary "herd IAMAT/s, $label" "req/s" "${herd_runs[@]}"
        herd_median=$MEDIAN
        if [[ $herd_scenario == connect-per-request ]]; then
            # The classic Python herds answered 5,700 and 3,400 a second this way.
            verdict "$(ge "$herd_median" 57000)" "at least 10 times the seeds' 5,700/s"
        fi
        if ((REDIS)); then
            summary "redis SET/s, $label" "req/s" "${redis_runs[@]}"
            ratio=$(awk -v a="$herd_median" -v b="$MEDIAN" 'BEGIN { printf "%.2f", a / b }')
            echo "  ratio herd/redis, $label: $ratio"
            verdict "$(ge "$ratio" 1)" "herd answers at least as many as Redis, $label"
        fi
    done
    if ((REDIS)); then
        stop "$REDIS_PID"
    fi
    # The comparison with Redis counts only if Solo logged every line it read and wrote.
    log_dropped "during the IAMATs"

    echo
    echo "== 5. offline WHATSAT on Solo (50 connections, depth 1, radius 10 km, bound 5)"
    runs=()
    for _ in $(seq "$RUNS"); do
        out=$("$HERD" bench whatsat --target "127.0.0.1:$SOLO_PORT" -c 50 -P 1 -d "$DURATION" \
            --json --quiet)
        runs+=("$(answered "$out")")
    done
    summary "WHATSAT answers/s" "req/s" "${runs[@]}"
    verdict "$(ge "$MEDIAN" 20000)" "at least 20,000 WHATSAT answers per second"
    stop "$SOLO_PID"
    log_dropped "during the WHATSATs (each answer is kilobytes of JSON)"

}

# --- 3. 10,000 held connections, one IAMAT per second each -------------------------------
section_hold() {
    echo
    echo "== 3. $HOLD_CONNECTIONS held connections, one IAMAT per second each, for $HOLD_DURATION (fresh server per run)"
    p99s=()
    per_conn=()
    rss_peaks=()
    for run in $(seq "$RUNS"); do
        HOLD_PORT=$((BASE + 2))
        solo_config "$WORK/data-hold-$run" "$HOLD_PORT" >"$WORK/hold.toml"
        start Solo "$WORK/hold.toml" "$HOLD_PORT"
        HOLD_PID=$LAST_PID
        sleep 1
        rss0=$(awk '/^VmRSS/ { print $2 }' "/proc/$HOLD_PID/status")
        "$HERD" bench hold --target "127.0.0.1:$HOLD_PORT" -c "$HOLD_CONNECTIONS" \
            -d "$HOLD_DURATION" --json --quiet >"$WORK/hold.json" &
        bench_pid=$!
        peak=$rss0
        while kill -0 "$bench_pid" 2>/dev/null; do
            rss=$(awk '/^VmRSS/ { print $2 }' "/proc/$HOLD_PID/status")
            ((rss > peak)) && peak=$rss
            sleep 0.25
        done
        wait "$bench_pid"
        out=$(cat "$WORK/hold.json")
        established=$(field "$out" .established)
        if ((established < HOLD_CONNECTIONS)); then
            log "only $established of $HOLD_CONNECTIONS connections were established"
        fi
        p99s+=("$(awk -v u="$(field "$out" .latency.p99_us)" 'BEGIN { printf "%.3f", u / 1000 }')")
        rss_peaks+=("$(awk -v k="$peak" 'BEGIN { printf "%.1f", k * 1024 / 1000000 }')")
        per_conn+=("$(awk -v a="$rss0" -v b="$peak" -v n="$HOLD_CONNECTIONS" \
            'BEGIN { printf "%.0f", (b - a) * 1024 / n }')")
        stop "$HOLD_PID"
    done
    summary "IAMAT p99 latency" "ms" "${p99s[@]}"
    verdict "$(lt "$MEDIAN" 5)" "p99 under 5 ms (issue 13)"
    summary "server peak RSS" "MB" "${rss_peaks[@]}"
    verdict "$(lt "$MEDIAN" 150)" "RSS under 150 MB"
    summary "RSS growth per held connection" "bytes" "${per_conn[@]}"
    verdict "$(lt "$MEDIAN" 2049)" "at most 2 KB per held connection (issue 13; Redis about 1.4 KB)"

}

# --- 2. The five-server herd: one server takes the load and floods it to all -------------
# Once per `[herd] broadcast` mode (BROADCASTS, "flood tree" by default): flooding sends each
# record 2E - N + 1 = 10 times over the seven links, the tree 4 times.
section_herd() {
    for mode in ${BROADCASTS:-flood tree}; do
        herd_once "$mode"
    done
}

herd_once() {
    local mode=$1
    echo
    echo "== 2. five-server herd (2023 topology, broadcast = \"$mode\"), 50 connections at depth 16 to Bailey only"
    names=(Bailey Bona Campbell Clark Jaquez)
    declare -A port
    for i in "${!names[@]}"; do port[${names[$i]}]=$((BASE + 5 + i)); done
    {
        printf '[herd]\nbroadcast = "%s"\n' "$mode"
        printf '[storage]\ndir = "%s/data-herd-%s"\n' "$WORK" "$mode"
        server Bailey "${port[Bailey]}" '"Bona", "Campbell"'
        server Bona "${port[Bona]}" '"Bailey", "Campbell", "Clark"'
        server Campbell "${port[Campbell]}" '"Bailey", "Bona", "Jaquez"'
        server Clark "${port[Clark]}" '"Bona", "Jaquez"'
        server Jaquez "${port[Jaquez]}" '"Campbell", "Clark"'
    } >"$WORK/herd.toml"
    HERD_PIDS=()
    for name in "${names[@]}"; do
        start "$name" "$WORK/herd.toml" "${port[$name]}"
        HERD_PIDS+=("$LAST_PID")
    done
    # Until every server has its links up, a WHATSAT elsewhere would not see the flood.
    "$HERD" bench propagation --config "$WORK/herd.toml" -n 5 --timeout 10s --json --quiet >/dev/null
    runs=()
    for _ in $(seq "$RUNS"); do
        out=$("$HERD" bench iamat --target "127.0.0.1:${port[Bailey]}" -c 50 -P 16 \
            -d "$DURATION" --json --quiet)
        runs+=("$(answered "$out")")
    done
    summary "IAMAT/s accepted by Bailey, sent on to all five ($mode)" "req/s" "${runs[@]}"
    verdict "$(ge "$MEDIAN" 160000)" "at least 160,000 IAMAT/s ($mode)"
    # Every server must end with every client the load used: the flood kept up (5 s to drain).
    same=0
    for _ in $(seq 50); do
        # The dump speaks the link protocol (TLS since issue 12): the servers' own build.
        "$HERD_SERVER" dump Bailey --config "$WORK/herd.toml" >"$WORK/bailey.dump"
        "$HERD_SERVER" dump Jaquez --config "$WORK/herd.toml" >"$WORK/jaquez.dump"
        if cmp -s "$WORK/bailey.dump" "$WORK/jaquez.dump"; then
            same=1
            break
        fi
        sleep 0.1
    done
    verdict "$same" "Jaquez (two hops from Bailey) ends with Bailey's table ($(wc -l <"$WORK/bailey.dump") clients, $mode)"
    for pid in "${HERD_PIDS[@]}"; do stop "$pid"; done
}

# --- 4. Propagation along a chain A-B-C-D -----------------------------------------------
section_chain() {
    echo
    echo "== 4. propagation in the chain A-B-C-D at $PROPAGATION_RATE IAMAT/s (origins rotate; 3 hops = A<->D)"
    {
        printf '[storage]\ndir = "%s/data-chain"\n' "$WORK"
        server A $((BASE + 12)) '"B"'
        server B $((BASE + 13)) '"C"'
        server C $((BASE + 14)) '"D"'
        server D $((BASE + 15)) ''
    } >"$WORK/chain.toml"
    CHAIN_PIDS=()
    chain=(A B C D)
    for i in "${!chain[@]}"; do
        start "${chain[$i]}" "$WORK/chain.toml" $((BASE + 12 + i))
        CHAIN_PIDS+=("$LAST_PID")
    done
    "$HERD" bench propagation --config "$WORK/chain.toml" -n 5 --timeout 10s --json --quiet >/dev/null
    p99s=()
    p50s=()
    own=()
    rates=()
    hop() { jq -r ".by_hops[] | select(.hops == $1) | .latency.$2 / 1000" <<<"$out"; }
    for _ in $(seq "$RUNS"); do
        out=$("$HERD" bench propagation --config "$WORK/chain.toml" --rate "$PROPAGATION_RATE" \
            -d "$DURATION" --json --quiet)
        p99s+=("$(hop 3 p99_us)")
        p50s+=("$(hop 3 p50_us)")
        own+=("$(hop 0 p99_us)")
        rates+=("$(field "$out" .rounds_per_s)")
    done
    summary "rounds (IAMATs) per second reached" "/s" "${rates[@]}"
    summary "p99 of the IAMAT's own answer (0 hops, the floor)" "ms" "${own[@]}"
    summary "p50 time to reach the server 3 hops away" "ms" "${p50s[@]}"
    summary "p99 time to reach the server 3 hops away" "ms" "${p99s[@]}"
    verdict "$(lt "$MEDIAN" 2)" "p99 under 2 ms three hops away"
    for pid in "${CHAIN_PIDS[@]}"; do stop "$pid"; done
}

# --- 6. Memory per client, and restart, with a million clients ---------------------------
section_clients() {
    echo
    echo "== 6. $CLIENTS clients in one server's table (bench/clients_memory.py: RSS growth per client; restart to listening)"
    local loaded=() restarted=() restart=() restart2=() out
    for _ in $(seq "$RUNS"); do
        out=$(SETTLE=${SETTLE:-25} python3 "$ROOT/bench/clients_memory.py" "$HERD_SERVER" "$CLIENTS" --json)
        loaded+=("$(field "$out" .per_client_loaded)")
        restarted+=("$(field "$out" .per_client_restarted)")
        restart+=("$(field "$out" .restart_s)")
        # The issue's case: every client moved once, so the log holds two records per client.
        out=$(SETTLE=0 REPORTS=2 python3 "$ROOT/bench/clients_memory.py" "$HERD_SERVER" "$CLIENTS" --json)
        restart2+=("$(field "$out" .restart_s)")
    done
    summary "RSS per client right after the load" "B" "${loaded[@]}"
    verdict "$(awk -v a="$MEDIAN" 'BEGIN { print (a <= 160) ? 1 : 0 }')" "at most 160 B per client"
    summary "RSS per client after a restart" "B" "${restarted[@]}"
    verdict "$(awk -v a="$MEDIAN" 'BEGIN { print (a <= 160) ? 1 : 0 }')" "at most 160 B per client"
    summary "restart to listening (log of one record per client)" "s" "${restart[@]}"
    verdict "$(lt "$MEDIAN" 1)" "under 1 s"
    summary "restart to listening (log of two records per client)" "s" "${restart2[@]}"
    verdict "$(lt "$MEDIAN" 1)" "under 1 s"
}

# --- 7. Catch-up of a million missed records by a restarted neighbour ---------------------
section_catchup() {
    echo
    echo "== 7. catch-up of $CLIENTS records a restarted neighbour missed (bench/catch_up.py: link connected to caught up)"
    local took=() out
    for _ in $(seq "$RUNS"); do
        out=$(python3 "$ROOT/bench/catch_up.py" "$HERD_SERVER" "$CLIENTS" --json)
        took+=("$(field "$out" .connected_to_caught_up_s)")
    done
    summary "link connected to caught up" "s" "${took[@]}"
    verdict "$(lt "$MEDIAN" 3)" "under 3 s"
}

SECTIONS=${SECTIONS:-solo hold herd chain clients catchup}
for section in $SECTIONS; do
    "section_$section"
done
