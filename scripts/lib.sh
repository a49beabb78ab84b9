# shellcheck shell=bash
# Set-up shared by the scripts that run rbench against a local redis-server (vs-redis-benchmark.sh,
# open-loop.sh, memory.sh). Sourced, not run, from the script's own shell and before it changes
# directory:  . "$(dirname "$0")/lib.sh"
#
#   need [--hint TEXT] TOOL...  exit 1 with "TOOL not found: bash scripts/setup.sh" (with --hint,
#                               "TOOL not found" then TEXT) unless every TOOL is a command on PATH (or
#                               an executable path)
#   rbench_binary               sets RB: $RBENCH if set, else `cargo build --release -q` and
#                               target/release/rbench (run it from the repository root); exit 1 unless
#                               RB is executable
#   start_redis [ARG...]        sets DIR (a new temp dir), PORT (a free loopback port) and SERVER (the PID
#                               of `redis-server --port PORT --bind 127.0.0.1 --save "" --appendonly no
#                               --dir DIR --daemonize no --logfile DIR/redis.log ARG...`, in the
#                               background); installs the traps (EXIT: cleanup; INT, TERM: exit 130) and
#                               returns once the server answers PING, or exits 1 with its log if it has
#                               not within 10 s (or has exited)
#   tls_port                    after start_redis: makes a throwaway CA (DIR/ca.crt) and a server
#                               certificate for 127.0.0.1/localhost with openssl, and opens a TLS port
#                               on SERVER by CONFIG SET; sets TLS_PORT
#   also_kill PID               cleanup kills PID too (a process this script started in its own shell)
#   stop_pid PID                kills PID now, waits for it and forgets it (also_kill's counterpart)
#   cleanup                     kills the also_kill PIDs, then SERVER, waiting for each, and removes DIR
#   cputime_py                  after start_redis: writes DIR/cputime.py, which runs a command (its
#                               output passed through) and then prints "CPU <user_s> <sys_s> <exit>"
#                               on stderr: the child's own rusage from wait4 (µs resolution)
#   median COL                  the median of column COL of the lines on stdin ("nan" when none)
# Only processes the script started are killed, each by its PID (SIGTERM); nothing is found by name.

DIR=""
SERVER=""
PORT=""
_LIB_PIDS=" " # the also_kill PIDs, space-separated and space-padded

need() {
    local hint=": bash scripts/setup.sh" tool
    if [ "${1:-}" = --hint ]; then hint=$2; shift 2; fi
    for tool in "$@"; do
        command -v "$tool" >/dev/null || { echo "$tool not found$hint" >&2; exit 1; }
    done
}

rbench_binary() {
    if [ -n "${RBENCH:-}" ]; then
        RB=$RBENCH
    else
        cargo build --release -q
        RB=target/release/rbench
    fi
    [ -x "$RB" ] || { echo "rbench binary $RB is not executable" >&2; exit 1; }
}

# The PIDs must be children of the shell that runs cleanup (the script's own, not a $(...) subshell).
_lib_main_shell() {
    [ "$BASHPID" = "$$" ] || { echo "lib.sh: $1 must run in the script's own shell, not a subshell" >&2; exit 1; }
}

_lib_stop() {
    kill "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

also_kill() {
    _lib_main_shell also_kill
    _LIB_PIDS="$_LIB_PIDS$1 "
}

stop_pid() {
    _lib_stop "$1"
    _LIB_PIDS=${_LIB_PIDS/ $1 / }
}

cleanup() {
    local pid
    for pid in $_LIB_PIDS; do _lib_stop "$pid"; done
    _LIB_PIDS=" "
    if [ -n "$SERVER" ]; then _lib_stop "$SERVER"; SERVER=""; fi
    if [ -n "$DIR" ]; then rm -rf "$DIR"; fi
}

start_redis() {
    _lib_main_shell start_redis
    trap cleanup EXIT
    trap 'exit 130' INT TERM
    DIR=$(mktemp -d)
    PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    redis-server --port "$PORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$DIR" --daemonize no \
        --logfile "$DIR/redis.log" "$@" &
    SERVER=$!
    local tries=0 why=""
    until redis-cli -p "$PORT" ping >/dev/null 2>&1; do
        if ! kill -0 "$SERVER" 2>/dev/null; then why="it exited"; break; fi
        if [ "$tries" -ge 100 ]; then why="no PING reply within 10 s"; break; fi
        tries=$((tries + 1))
        sleep 0.1
    done
    [ -n "$why" ] || return 0
    echo "redis-server did not start on 127.0.0.1:$PORT ($why); $DIR/redis.log:" >&2
    cat "$DIR/redis.log" >&2 2>/dev/null || true
    exit 1
}

tls_port() {
    local d=$DIR
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=vs-ca \
        -keyout "$d/ca.key" -out "$d/ca.crt" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj /CN=localhost -keyout "$d/srv.key" -out "$d/srv.csr" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$d/ext"
    openssl x509 -req -in "$d/srv.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial -days 2 \
        -extfile "$d/ext" -out "$d/srv.crt" 2>/dev/null
    TLS_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    redis-cli -p "$PORT" CONFIG SET tls-cert-file "$d/srv.crt" tls-key-file "$d/srv.key" \
        tls-ca-cert-file "$d/ca.crt" tls-auth-clients no tls-port "$TLS_PORT" >/dev/null ||
        { echo "cannot open a TLS port on redis-server (built without TLS?)" >&2; exit 1; }
}

cputime_py() {
    cat >"$DIR/cputime.py" <<'PY'
import os, sys
pid = os.fork()
if pid == 0:
    try:
        os.execvp(sys.argv[1], sys.argv[1:])
    finally:
        os._exit(127)
_, status, ru = os.wait4(pid, 0)
code = os.waitstatus_to_exitcode(status)
sys.stderr.write("CPU %.6f %.6f %d\n" % (ru.ru_utime, ru.ru_stime, code))
sys.exit(0)
PY
}

median() {
    awk -v c="$1" 'NF{print $c}' | sort -g | awk '{v[NR]=$1} END{
        if (NR==0) print "nan"; else if (NR%2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2 }'
}
