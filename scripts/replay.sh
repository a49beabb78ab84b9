#!/usr/bin/env bash
# rbench replay measured: timing, counts and order kept, and memory on a capture larger than memory.
#
# 1. Capture: a local redis-server (free loopback port, stopped by PID on exit) runs a scripted
#    workload for CAPTURE_S seconds (default 20) while scripts/capture.sh records it with MONITOR:
#    CLIENTS (default 6) clients, each pushing its own sequence numbers (RPUSH seq:C I) with SET,
#    GET and INCR between, at irregular gaps (seeded), all idle for a stretch in the middle.
# 2. Replay at --speed 1 and --speed 2, each against a fresh server: prints the replay's duration
#    (first command due to last reply, from --json) against the capture's span / speed (the aim:
#    within ±0.2 s), INFO commandstats against the capture's counts (the aim: equal), and whether
#    every client's list holds its sequence numbers in order.
# 3. Memory: a generated capture of MEM_MB MiB (default 2048) replayed with --speed max for
#    MEM_DURATION (default 30s) under /usr/bin/time; prints rbench's peak RSS (the aim: < 100 MiB).
#    The capture is read through once before the replay (the survey), then streamed.
#
# Usage:
#   scripts/replay.sh                                  the full measurement (about 2 minutes + the
#                                                      2 GiB file's generation; needs 2 GiB of disk)
#   CAPTURE_S=4 MEM_MB=50 MEM_DURATION=3s scripts/replay.sh   a quick check that it works
#   RBENCH=/path/to/rbench scripts/replay.sh           that binary (default: cargo build --release)
#   KEEP=dir scripts/replay.sh                         keep the captures in dir
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."

CAPTURE_S=${CAPTURE_S:-20}
CLIENTS=${CLIENTS:-6}
MEM_MB=${MEM_MB:-2048}
MEM_DURATION=${MEM_DURATION:-30s}
for v in "$CAPTURE_S" "$CLIENTS" "$MEM_MB"; do
    [[ "$v" =~ ^[1-9][0-9]*$ ]] || { echo "CAPTURE_S, CLIENTS and MEM_MB are positive integers" >&2; exit 2; }
done
need redis-server redis-cli timeout
need --hint " (drives the workload, reads the JSON)" python3
need --hint ": apt-get install -y time" /usr/bin/time
rbench_binary

WORK=${KEEP:-$(mktemp -d)}
mkdir -p "$WORK"
CAP=$WORK/capture.txt
finish() {
    cleanup
    if [ -z "${KEEP:-}" ]; then rm -rf "$WORK"; fi
}
start_redis
trap finish EXIT

# A fresh server for each replay: the one before stopped by PID, its dir removed.
fresh_server() {
    _lib_stop "$SERVER"
    SERVER=""
    rm -rf "$DIR"
    start_redis
    trap finish EXIT
}

cat >"$WORK/drive.py" <<'PY'
import random, socket, sys, threading, time
port, clients, secs = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])

def cmd(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out

def reply(f):
    line = f.readline()
    if line[:1] == b"$" and int(line[1:]) >= 0:
        f.read(int(line[1:]) + 2)

def client(c, start):
    s = socket.create_connection(("127.0.0.1", port))
    f = s.makefile("rb")
    rnd = random.Random(c)
    i = 0
    while True:
        t = time.time() - start
        if t >= secs:
            break
        if 0.4 * secs <= t < 0.55 * secs:   # everyone idle for a stretch
            time.sleep(0.05)
            continue
        for a in (("RPUSH", "seq:%d" % c, i), ("SET", "k:%d:%d" % (c, i), "v%d" % i),
                  ("GET", "k:%d:%d" % (c, rnd.randrange(i + 1))), ("INCR", "n:%d" % c)):
            s.sendall(cmd(*a))
            reply(f)
        i += 1
        time.sleep(rnd.choice((0.002, 0.01, 0.03, 0.08)))
    s.close()

start = time.time()
ts = [threading.Thread(target=client, args=(c, start)) for c in range(clients)]
for t in ts: t.start()
for t in ts: t.join()
PY

cat >"$WORK/capstats.py" <<'PY'
import collections, json, re, sys
skip = {"monitor", "shutdown", "flushall", "flushdb", "debug"}
counts, first, last, lines = collections.Counter(), None, None, 0
for line in open(sys.argv[1], "rb"):
    m = re.match(rb'(\d+\.\d+) \[\d+ ([^\]]+)\] "([^"]+)"', line)
    if not m or m.group(2) == b"lua":
        continue
    name = m.group(3).decode().lower()
    if name in skip:
        continue
    t = float(m.group(1))
    first = t if first is None else first
    last = t
    counts[name] += 1
print(json.dumps({"span": last - first, "counts": counts}))
PY

echo "== capture: $CLIENTS clients for $CAPTURE_S s (MONITOR on 127.0.0.1:$PORT)"
scripts/capture.sh 127.0.0.1 "$PORT" $((CAPTURE_S + 2)) "$CAP" &
CAPTURER=$!
also_kill "$CAPTURER"
sleep 1
python3 "$WORK/drive.py" "$PORT" "$CLIENTS" "$CAPTURE_S"
wait "$CAPTURER" || { echo "capture failed" >&2; exit 1; }
stop_pid "$CAPTURER"
STATS=$(python3 "$WORK/capstats.py" "$CAP")
SPAN=$(python3 -c 'import json,sys; print("%.3f" % json.loads(sys.argv[1])["span"])' "$STATS")
echo "   $(grep -c '^[0-9]' "$CAP") lines, span ${SPAN} s: $(python3 -c 'import json,sys; print(dict(json.loads(sys.argv[1])["counts"]))' "$STATS")"

fails=0
for speed in 1 2; do
    fresh_server
    J=$WORK/replay-$speed.json
    "$RB" replay "$CAP" -p "$PORT" --speed "$speed" --no-save -q --json "$J" >/dev/null 2>"$WORK/replay-$speed.err" ||
        { echo "rbench replay --speed $speed failed:" >&2; cat "$WORK/replay-$speed.err" >&2; exit 1; }
    ORDER=ok
    for c in $(seq 0 $((CLIENTS - 1))); do
        python3 -c 'import sys; v=[int(x) for x in sys.stdin.read().split()]; sys.exit(v != list(range(len(v))))' \
            < <(redis-cli -p "$PORT" LRANGE "seq:$c" 0 -1) || ORDER="client $c out of order"
    done
    redis-cli -p "$PORT" INFO commandstats >"$WORK/commandstats-$speed.txt"
    if ! python3 - "$J" "$STATS" "$WORK/commandstats-$speed.txt" "$speed" "$ORDER" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1])); cap = json.loads(sys.argv[2]); speed = float(sys.argv[4])
dur = max(r["duration_s"] for r in doc["results"])
want = cap["span"] / speed
stats = {}
for line in open(sys.argv[3]):
    if line.startswith("cmdstat_"):
        name, rest = line[8:].split(":", 1)
        stats[name] = int(rest.split(",")[0].split("=")[1])
diff = {k: (v, stats.get(k, 0)) for k, v in cap["counts"].items() if stats.get(k, 0) != v}
p99 = max(r["latency"]["p99_ms"] for r in doc["results"])
ok_time = abs(dur - want) <= 0.2
print("== --speed %g: took %.3f s, capture span / speed %.3f s (%+.3f s, %s); p99 %.3f ms" %
      (speed, dur, want, dur - want, "within 0.2 s" if ok_time else "OFF BY MORE THAN 0.2 s", p99))
print("   commandstats %s; per-client order %s" %
      ("equal to the capture's counts" if not diff else "DIFFER (capture, server): %s" % diff, sys.argv[5]))
sys.exit(0 if ok_time and not diff and sys.argv[5] == "ok" else 1)
PY
    then fails=$((fails + 1)); fi
done

echo "== memory: a ${MEM_MB} MiB capture, --speed max for $MEM_DURATION"
BIG=$WORK/big.txt
python3 - "$BIG" "$MEM_MB" <<'PY'
import sys
path, mb = sys.argv[1], int(sys.argv[2])
target = mb * 1024 * 1024
with open(path, "w") as f:
    written, i = 0, 0
    while written < target:
        chunk = []
        for j in range(10000):
            n = i + j
            chunk.append('%d.%06d [0 127.0.0.1:%d] "SET" "key:%d" "%s"\n' %
                         (1701943201 + n // 100000, n % 1000000, 40000 + n % 64, n % 100000, "v" * 40))
        s = "".join(chunk)
        f.write(s)
        written += len(s)
        i += 10000
PY
fresh_server
/usr/bin/time -f "%M %e" -o "$WORK/time.txt" "$RB" replay "$BIG" -p "$PORT" --speed max \
    --duration "$MEM_DURATION" --no-save -q --json "$WORK/mem.json" >/dev/null 2>"$WORK/mem.err" ||
    { echo "rbench replay (memory) failed:" >&2; cat "$WORK/mem.err" >&2; exit 1; }
read -r RSS_KB WALL <"$WORK/time.txt"
SENT=$(python3 -c 'import json,sys; print(sum(r["requests"] for r in json.load(open(sys.argv[1]))["results"]))' "$WORK/mem.json")
RSS_MB=$((RSS_KB / 1024))
echo "   $(du -m "$BIG" | cut -f1) MiB file, $SENT commands sent in $WALL s (survey included): peak RSS ${RSS_MB} MiB ($([ "$RSS_MB" -lt 100 ] && echo "under 100 MiB" || echo "OVER 100 MiB"))"
[ "$RSS_MB" -lt 100 ] || fails=$((fails + 1))
rm -f "$BIG"
exit $(( fails > 0 ))
