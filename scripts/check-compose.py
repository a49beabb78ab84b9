#!/usr/bin/env python3
"""Offline check of compose/*.yml: no Docker engine needed, so a typo cannot ship.

Usage: python3 scripts/check-compose.py [DIR]      (DIR defaults to the repo's compose/)

Parses every compose file (PyYAML) and checks its structure: known top-level and service keys
(typos), an image per service, command lists of strings, ports as "127.0.0.1:HOST:CONTAINER"
strings (or network_mode: host with no ports), healthchecks with a test, depends_on naming real
services, the persistence flags each standalone file promises, and for cluster.yml: six cluster
nodes on 7000-7005 and an init service that waits for all six to be healthy. When `docker compose`
or `docker-compose` is installed, `config -q` is run on each file as well.

Prints "compose: N files ok" and exits 0, or one "compose/X.yml: problem" line per problem and
exits 1. Exits 2 when PyYAML is missing.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

try:
    import yaml
except ImportError:
    print(
        "check-compose: PyYAML is required: pip install pyyaml  (Debian/Ubuntu: apt-get install python3-yaml)",
        file=sys.stderr,
    )
    sys.exit(2)

# Compose Specification keys; anything else is almost certainly a typo ("healthchek", "comand").
TOP_KEYS = {"version", "name", "services", "networks", "volumes", "configs", "secrets", "include"}
SERVICE_KEYS = {
    "annotations", "attach", "blkio_config", "build", "cap_add", "cap_drop", "cgroup", "cgroup_parent",
    "command", "configs", "container_name", "cpu_count", "cpu_percent", "cpu_period", "cpu_quota",
    "cpu_rt_period", "cpu_rt_runtime", "cpu_shares", "cpus", "cpuset", "credential_spec",
    "depends_on", "deploy", "develop", "device_cgroup_rules", "devices", "dns", "dns_opt",
    "dns_search", "domainname", "entrypoint", "env_file", "environment", "expose", "extends",
    "external_links", "extra_hosts", "gpus", "group_add", "healthcheck", "hostname", "image", "init",
    "ipc", "isolation", "labels", "links", "logging", "mac_address", "mem_limit", "mem_reservation",
    "mem_swappiness", "memswap_limit", "network_mode", "networks", "oom_kill_disable",
    "oom_score_adj", "pid", "pids_limit", "platform", "ports", "post_start", "pre_stop",
    "privileged", "profiles", "pull_policy", "read_only", "restart", "runtime", "scale",
    "secrets", "security_opt", "shm_size", "stdin_open", "stop_grace_period", "stop_signal",
    "storage_opt", "sysctls", "tmpfs", "tty", "ulimits", "user", "userns_mode", "uts", "volumes",
    "volumes_from", "working_dir",
}
HEALTHCHECK_KEYS = {"test", "interval", "timeout", "retries", "start_period", "start_interval", "disable"}
DEPENDS_CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}
RESTART = {"no", "always", "on-failure", "unless-stopped"}
DURATION = re.compile(r"^(\d+(\.\d+)?(ns|us|ms|s|m|h))+$")
LOOPBACK_PORT = re.compile(r"^127\.0\.0\.1:(\d+):(\d+)(/(tcp|udp))?$")
IMAGE = re.compile(r"^[a-z0-9][a-z0-9._/-]*(:[A-Za-z0-9._-]+)?(@sha256:[0-9a-f]{64})?$")

# What each standalone file promises (matches the profile targets of the same name).
STANDALONE_FLAGS = {
    "standalone.yml": {"--appendonly": "no"},
    "aof-everysec.yml": {"--appendonly": "yes", "--appendfsync": "everysec"},
    "aof-always.yml": {"--appendonly": "yes", "--appendfsync": "always"},
}
CLUSTER_PORTS = list(range(7000, 7006))


class UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate mapping keys (PyYAML keeps the last one silently)."""


def _construct_mapping(loader: UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False):
    loader.flatten_mapping(node)  # resolve "<<" merge keys first, as compose does
    seen: dict = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        seen[key] = True
    return loader.construct_mapping(node, deep=deep)


UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping
)

INTERP = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)([^}]*)|(:?\?)([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)")


def interpolate(s: str, problems: list[str], where: str) -> str:
    """Resolves ${VAR:-default} as compose would with every variable unset (deterministic), and $$.

    A variable without a default would silently become "" in compose, so it is reported.
    """
    out = []
    i = 0
    while i < len(s):
        if s.startswith("$$", i):
            out.append("$")
            i += 2
            continue
        if s[i] == "$":
            m = INTERP.match(s, i)
            if not m:
                problems.append(f"{where}: bad variable syntax near {s[i:i + 20]!r} (write $$ for a literal $)")
                return s
            name, dash, default, q = m.group(1) or m.group(6), m.group(2), m.group(3), m.group(4)
            if dash is not None:
                out.append(default)
            elif q is not None:
                out.append("required")  # ${VAR:?err}: compose refuses to start without it
            else:
                problems.append(f"{where}: ${{{name}}} has no default; use ${{{name}:-}} or ${{{name}:-value}}")
            i = m.end()
            continue
        out.append(s[i])
        i += 1
    return "".join(out)


def words(cmd) -> list[str] | None:
    """A compose command as argv words: lists as given, strings split like a shell; None when it
    is missing or not made of strings."""
    if isinstance(cmd, list):
        return cmd if all(isinstance(a, str) for a in cmd) else None
    if isinstance(cmd, str):
        try:
            return shlex.split(cmd)
        except ValueError:
            return None
    return None


def flag(argv: list[str], name: str) -> str | None:
    """Value after a redis-server style flag ("--port 7000")."""
    for a, b in zip(argv, argv[1:]):
        if a == name:
            return b
    return None


def check_healthcheck(hc, where: str, problems: list[str]) -> None:
    if not isinstance(hc, dict):
        problems.append(f"{where}: healthcheck must be a mapping")
        return
    for k in hc:
        if k not in HEALTHCHECK_KEYS:
            problems.append(f"{where}: unknown healthcheck key {k!r}")
    if hc.get("disable") is True:
        return
    test = hc.get("test")
    if isinstance(test, str):
        ok = bool(test.strip())
    elif isinstance(test, list):
        ok = (
            len(test) >= 2
            and all(isinstance(t, str) for t in test)
            and test[0] in ("CMD", "CMD-SHELL")
            and bool(" ".join(test[1:]).strip())
        ) or test == ["NONE"]
    else:
        ok = False
    if not ok:
        problems.append(f"{where}: healthcheck needs a test, e.g. [\"CMD\", \"redis-cli\", \"ping\"]")
    for k in ("interval", "timeout", "start_period", "start_interval"):
        v = hc.get(k)
        if v is not None and not (isinstance(v, str) and DURATION.match(v)):
            problems.append(f"{where}: healthcheck {k} {v!r} is not a duration like \"2s\"")
    r = hc.get("retries")
    if r is not None and not (isinstance(r, int) and not isinstance(r, bool) and r >= 1):
        problems.append(f"{where}: healthcheck retries must be a positive integer")


def check_service(name: str, svc, services: dict, where: str, problems: list[str]) -> None:
    w = f"{where}: service {name!r}"
    if not isinstance(svc, dict):
        problems.append(f"{w}: must be a mapping")
        return
    for k in svc:
        if k not in SERVICE_KEYS and not str(k).startswith("x-"):
            problems.append(f"{w}: unknown key {k!r}")
    image = svc.get("image")
    if not isinstance(image, str) or not IMAGE.match(image):
        problems.append(f"{w}: needs an image like \"redis:7.2\" (got {image!r})")
    if "command" in svc:
        cmd = svc["command"]
        if not words(cmd):
            # YAML turns bare yes/no/7000 into bool/int; compose wants strings.
            problems.append(f"{w}: command must be a string or a list of strings (quote yes/no and numbers)")
    mode = svc.get("network_mode")
    if mode is not None and not isinstance(mode, str):
        problems.append(f"{w}: network_mode must be a string")
    if "ports" in svc:
        ports = svc["ports"]
        if mode == "host":
            problems.append(f"{w}: ports are ignored with network_mode: host; remove them")
        elif not isinstance(ports, list):
            problems.append(f"{w}: ports must be a list")
        else:
            for p in ports:
                if not isinstance(p, str):
                    problems.append(
                        f"{w}: port {p!r} must be a quoted string \"127.0.0.1:HOST:CONTAINER\""
                    )
                    continue
                m = LOOPBACK_PORT.match(p)
                if not m:
                    problems.append(
                        f"{w}: port {p!r} must be \"127.0.0.1:HOST:CONTAINER\" (loopback only)"
                    )
                elif not all(1 <= int(x) <= 65535 for x in m.group(1, 2)):
                    problems.append(f"{w}: port {p!r} out of range")
    if mode == "host" and "networks" in svc:
        problems.append(f"{w}: networks cannot be combined with network_mode: host")
    if "healthcheck" in svc:
        check_healthcheck(svc["healthcheck"], w, problems)
    deps = svc.get("depends_on")
    if deps is not None:
        if isinstance(deps, list):
            deps = {d: {"condition": "service_started"} for d in deps}
        if not isinstance(deps, dict):
            problems.append(f"{w}: depends_on must be a list or a mapping")
        else:
            for dep, spec in deps.items():
                if dep not in services:
                    problems.append(f"{w}: depends_on unknown service {dep!r}")
                    continue
                cond = spec.get("condition") if isinstance(spec, dict) else None
                target = services[dep] if isinstance(services[dep], dict) else {}
                if cond not in DEPENDS_CONDITIONS:
                    problems.append(f"{w}: depends_on {dep!r} has unknown condition {cond!r}")
                elif cond == "service_healthy" and "healthcheck" not in target:
                    problems.append(f"{w}: waits for {dep!r} to be healthy, but it has no healthcheck")
    restart = svc.get("restart")
    if restart is not None and (
        not isinstance(restart, str) or restart.split(":")[0] not in RESTART
    ):
        problems.append(f"{w}: restart {restart!r} is not one of {sorted(RESTART)} (quote \"no\")")


def is_redis_server(svc) -> bool:
    if not isinstance(svc, dict):
        return False
    if "command" not in svc:
        # No command: the redis image's default is redis-server.
        return str(svc.get("image", "")).startswith("redis")
    argv = words(svc["command"])
    return bool(argv) and argv[0] == "redis-server"


def check_cluster(services: dict, where: str, problems: list[str]) -> None:
    nodes: dict[int, str] = {}
    for name, svc in services.items():
        argv = words(svc.get("command"))
        if not argv or argv[0] != "redis-server" or flag(argv, "--cluster-enabled") is None:
            continue
        w = f"{where}: service {name!r}"
        if flag(argv, "--cluster-enabled") != "yes":
            problems.append(f"{w}: --cluster-enabled must be \"yes\"")
        if flag(argv, "--cluster-announce-ip") != "127.0.0.1":
            problems.append(f"{w}: needs --cluster-announce-ip 127.0.0.1")
        if svc.get("network_mode") != "host":
            problems.append(f"{w}: cluster nodes need network_mode: host")
        port = flag(argv, "--port")
        if port is None or not port.isdigit():
            problems.append(f"{w}: needs --port 70xx")
            continue
        if int(port) in nodes:
            problems.append(f"{w}: port {port} already used by {nodes[int(port)]!r}")
        nodes[int(port)] = name
        test = (svc.get("healthcheck") or {}).get("test")
        if test is not None and f"-p {port}" not in " ".join(
            map(str, test if isinstance(test, list) else [test])
        ):
            problems.append(f"{w}: healthcheck must ping its own port ({port})")
    if sorted(nodes) != CLUSTER_PORTS:
        problems.append(
            f"{where}: need exactly 6 cluster nodes on ports 7000-7005, found {sorted(nodes) or 'none'}"
        )

    inits = [
        (n, s) for n, s in services.items()
        if "--cluster create" in " ".join(words(s.get("command")) or [])
    ]
    if len(inits) != 1:
        problems.append(f"{where}: need exactly one init service running redis-cli --cluster create")
        return
    name, init = inits[0]
    w = f"{where}: service {name!r}"
    script = " ".join(words(init.get("command")) or [])
    create = script[script.index("--cluster create"):]
    for p in CLUSTER_PORTS:
        if f"127.0.0.1:{p}" not in create:
            problems.append(f"{w}: --cluster create must list 127.0.0.1:{p}")
    if "--cluster-replicas 1" not in create or "--cluster-yes" not in create:
        problems.append(f"{w}: needs --cluster-replicas 1 --cluster-yes")
    if init.get("network_mode") != "host":
        problems.append(f"{w}: needs network_mode: host to reach the nodes on 127.0.0.1")
    deps = init.get("depends_on")
    deps = deps if isinstance(deps, dict) else {}
    for node in nodes.values():
        spec = deps.get(node)
        if not (isinstance(spec, dict) and spec.get("condition") == "service_healthy"):
            problems.append(f"{w}: must depend on {node!r} with condition: service_healthy")


def check_file(path: Path, shown: str) -> list[str]:
    problems: list[str] = []
    try:
        doc = yaml.load(path.read_text(encoding="utf-8"), Loader=UniqueKeyLoader)
    except (OSError, UnicodeDecodeError) as e:
        return [f"{shown}: cannot read: {e}"]
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        what = getattr(e, "problem", None) or str(e).splitlines()[0]
        return [f"{shown}{line}: YAML error: {what}"]
    if not isinstance(doc, dict):
        return [f"{shown}: top level must be a mapping with services"]

    # Check what compose will actually use: every string with variables resolved to defaults.
    def resolve(v, where):
        if isinstance(v, str):
            return interpolate(v, problems, where)
        if isinstance(v, list):
            return [resolve(x, where) for x in v]
        if isinstance(v, dict):
            return {k: resolve(x, where) for k, x in v.items()}
        return v

    doc = resolve(doc, shown)
    for k in doc:
        if k not in TOP_KEYS and not str(k).startswith("x-"):
            problems.append(f"{shown}: unknown top-level key {k!r}")
    services = doc.get("services")
    if not isinstance(services, dict) or not services:
        problems.append(f"{shown}: needs a top-level services mapping")
        return problems
    for name, svc in services.items():
        check_service(name, svc, services, shown, problems)
        if isinstance(svc, dict) and is_redis_server(svc) and "healthcheck" not in svc:
            problems.append(f"{shown}: service {name!r}: redis-server needs a healthcheck (redis-cli ping)")

    expected = STANDALONE_FLAGS.get(path.name)
    if expected:
        servers = [s for s in services.values() if isinstance(s, dict) and is_redis_server(s)]
        if len(servers) != 1:
            problems.append(f"{shown}: expected one redis-server service, found {len(servers)}")
        for svc in servers:
            argv = words(svc.get("command")) or []
            for f, v in expected.items():
                if flag(argv, f) != v:
                    problems.append(f"{shown}: redis-server needs {f} {v}")
            if svc.get("network_mode") != "host" and not any(
                isinstance(p, str) and LOOPBACK_PORT.match(p) and p.split(":")[2].split("/")[0] == "6379"
                for p in svc.get("ports") or []
            ):
                problems.append(f"{shown}: must publish container port 6379 on 127.0.0.1")
    if path.name == "cluster.yml":
        check_cluster({n: s for n, s in services.items() if isinstance(s, dict)}, shown, problems)
    return problems


def docker_config(files: list[Path], shown: dict[Path, str]) -> list[str]:
    """`config -q` with whichever compose is installed; nothing when neither is."""
    base = None
    if shutil.which("docker") and subprocess.run(
        ["docker", "compose", "version"], capture_output=True
    ).returncode == 0:
        base = ["docker", "compose"]
    elif shutil.which("docker-compose"):
        base = ["docker-compose"]
    if base is None:
        return []
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "COMPOSE_"))}
    problems = []
    for f in files:
        r = subprocess.run([*base, "-f", str(f), "config", "-q"], capture_output=True, text=True, env=env)
        if r.returncode != 0:
            msg = " ".join((r.stderr or r.stdout).split())[:300]
            problems.append(f"{shown[f]}: {' '.join(base)} config: {msg}")
    return problems


def main() -> int:
    root = Path(__file__).resolve().parent.parent
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else root / "compose"
    files = sorted(p for p in folder.glob("*") if p.suffix in (".yml", ".yaml") and p.is_file())
    if not files:
        print(f"{folder}: no compose files found")
        return 1

    def show(p: Path) -> str:
        # "compose/X.yml" for the repo's own files, the path as given for any other folder.
        try:
            return str(p.resolve().relative_to(root))
        except ValueError:
            return str(p)

    shown = {p: show(p) for p in files}
    problems: list[str] = []
    for f in files:
        problems += check_file(f, shown[f])
    problems += docker_config(files, shown)
    for p in problems:
        print(p)
    if problems:
        return 1
    print(f"compose: {len(files)} files ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
