#!/usr/bin/env bash
# Client memory per connection: rbench vs redis-benchmark, against one local redis-server (spawned on
# a free loopback port with --maxclients 20000, stopped by PID on exit).
#
# Each tool runs twice, with LOW (100) and HIGH (10000) connections; its max RSS comes from
# `/usr/bin/time -f %M`, and (RSS_HIGH - RSS_LOW) / (HIGH - LOW) is the memory one more connection
# costs, in KiB. The runs:
#   rbench          --clients N -t get --rps RPS --duration 4s -P 1 --threads 1 -q --no-save --json F
#                   (RPS defaults to 200: idle-ish connections, 200 rps spread over all of
#                   them, so at N=10000 most never send a request; RPS=3000 makes each one do
#                   some I/O before it idles)
#   redis-benchmark -c N -n 20000 -t get -q
# Also reports whether every request of the HIGH run succeeded (rbench: errors 0 and ok == requests in
# its --json; redis-benchmark: exit 0 and its GET line printed), and the peak number of client
# connections the server saw during each run (INFO clients, polled every 0.2 s).
# The aim: at most 8 KiB per idle connection at P=1, and 10k connections must work.
#
# Usage:
#   scripts/memory.sh                          LOW=100 HIGH=10000
#   LOW=100 HIGH=2000 scripts/memory.sh        other connection counts (a quick check)
#   RBENCH=/path/to/rbench scripts/memory.sh   that binary (default: cargo build --release,
#                                              target/release/rbench)
# The soft open-files limit is raised to the hard limit; HIGH needs about HIGH + 100 descriptors in
# each process (client and server).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."

LOW=${LOW:-100}
HIGH=${HIGH:-10000}
RPS=${RPS:-200}
for v in "$LOW" "$HIGH" "$RPS"; do
    [[ "$v" =~ ^[1-9][0-9]*$ ]] || { echo "LOW, HIGH and RPS are positive integers" >&2; exit 2; }
done
[ "$HIGH" -gt "$LOW" ] || { echo "HIGH ($HIGH) must exceed LOW ($LOW)" >&2; exit 2; }
need redis-server redis-benchmark
need --hint " (used for free ports and JSON)" python3
need --hint ": apt-get install -y time" /usr/bin/time

hard=$(ulimit -Hn)
if [ "$hard" != unlimited ]; then ulimit -n "$hard"; else ulimit -n 1048576 2>/dev/null || true; fi
soft=$(ulimit -n)
if [ "$soft" != unlimited ] && [ "$soft" -lt $((HIGH + 100)) ]; then
    echo "open-files limit $soft is too low for $HIGH connections (want $((HIGH + 100))):" \
         "raise the hard limit (ulimit -Hn, /etc/security/limits.conf) or lower HIGH" >&2
    exit 1
fi

rbench_binary
start_redis --maxclients 20000
maxclients=$(redis-cli -p "$PORT" config get maxclients | tail -1)
if [ "$maxclients" -lt $((HIGH + 10)) ]; then
    echo "redis-server accepts only $maxclients clients (open-files limit); lower HIGH" >&2
    exit 1
fi

rb_cmd() { echo "$RB -p $PORT --clients $1 -t get --rps $RPS --duration 4s -P 1 --threads 1 -q --no-save"; }
bm_cmd() { echo "redis-benchmark -p $PORT -c $1 -n 20000 -t get -q"; }

echo "# server: redis-server $(redis-server --version | sed -E 's/.* v=([^ ]+).*/\1/') on 127.0.0.1:$PORT, maxclients $maxclients; open files $soft"
echo "# rbench: $RB ($("$RB" --version 2>/dev/null | head -1 || true))"
echo "# commands (N = $LOW, then $HIGH), each under /usr/bin/time -f %M:"
echo "#   $(rb_cmd N) --json FILE"
echo "#   $(bm_cmd N)"

# Writes the peak of the server's connected_clients (minus this poller's own connection) to $1.
poll_clients() {
    local max=0 c
    echo 0 >"$1"
    while :; do
        c=$(redis-cli -p "$PORT" info clients 2>/dev/null | awk -F: '/^connected_clients:/{print $2 - 1}')
        if [ -n "$c" ] && [ "$c" -gt "$max" ]; then max=$c; echo "$max" >"$1"; fi
        sleep 0.2
    done
}

# measure TOOL N -> "rss_kib peak_connections ok_flag note". Run it in the script's own shell (not in
# $(...) or <(...)), so that the poller is this shell's child, killed by cleanup, and Ctrl-C stops it.
measure() {
    local tool=$1 n=$2 cmd out code=0 rss ok note poller
    local tf="$DIR/time-$tool-$n" json="$DIR/$tool-$n.json"
    if [ "$tool" = rbench ]; then cmd="$(rb_cmd "$n") --json $json"; else cmd=$(bm_cmd "$n"); fi
    poll_clients "$DIR/peak-$tool-$n" &
    poller=$!
    also_kill "$poller"
    # shellcheck disable=SC2086
    out=$(/usr/bin/time -o "$tf" -f %M $cmd 2>&1 | tr '\r' '\n') || code=$?
    stop_pid "$poller"
    # Ctrl-C: the tool exits 130 (rbench) or dies of SIGINT (time then exits 130). time itself survives
    # SIGINT, and bash runs no INT trap for a child that survives it, so stop here (cleanup runs on exit).
    if [ "$code" = 130 ]; then exit 130; fi
    rss=$(grep -E '^[0-9]+$' "$tf" | tail -1 || true)
    if [ "$tool" = rbench ]; then
        note=$(python3 - "$json" <<'EOF' 2>/dev/null || echo "no-json"
import json, sys
r = json.load(open(sys.argv[1]))["results"][0]
bad = r["errors"] != 0 or r["ok"] != r["requests"] or r["requests"] == 0
print("%s requests=%d,ok=%d,errors=%d" % ("FAIL" if bad else "ok", r["requests"], r["ok"], r["errors"]))
EOF
)
    else
        if echo "$out" | grep -qE '^ *GET: [0-9.]+ requests per second'; then note="ok"; else note="FAIL"; fi
    fi
    if [ "$code" != 0 ]; then note="FAIL exit=$code ${note#ok}"; fi
    if [ "${note%% *}" != ok ]; then
        echo "$tool with $n connections: $note" >&2
        echo "$out" | grep -v '^ *$' | tail -5 >&2
    fi
    echo "${rss:-nan} $(cat "$DIR/peak-$tool-$n") ${note// /_}"
}

printf '%-16s %11s %11s %9s %12s  %s\n' tool "RSS@$LOW" "RSS@$HIGH" KiB/conn "server_conns" \
    "all requests ok at $HIGH"
for tool in rbench redis-benchmark; do
    measure "$tool" "$LOW" >"$DIR/measure"; read -r r_lo c_lo n_lo <"$DIR/measure"
    sleep 1 # let the server close the previous run's connections
    measure "$tool" "$HIGH" >"$DIR/measure"; read -r r_hi c_hi n_hi <"$DIR/measure"
    sleep 1
    awk -v t="$tool" -v a="$r_lo" -v b="$r_hi" -v lo="$LOW" -v hi="$HIGH" -v note="$n_hi" -v nlo="$n_lo" \
        -v clo="$c_lo" -v chi="$c_hi" 'BEGIN{
        per = (a == "nan" || b == "nan") ? "nan" : sprintf("%.2f", (b - a) / (hi - lo));
        gsub("_", " ", note); if (nlo !~ /^ok/) note = note " (LOW run: " nlo ")";
        printf "%-16s %11s %11s %9s %12s  %s\n", t, a, b, per, clo "/" chi, note }'
done
echo "RSS: max RSS in KiB from /usr/bin/time (%M); KiB/conn = (RSS@$HIGH - RSS@$LOW) / $((HIGH - LOW))."
echo "server_conns: peak client connections the server saw in the LOW/HIGH runs (polled, may miss short peaks)."
