#!/usr/bin/env python3
"""Offline checks of `rbench kube` manifests, for tests/integration/kube.rs.

    check-kube.py validate K8S_VERSION FILE...  kubernetes-validate --strict against the schemas of
                                                K8S_VERSION that the package ships
    check-kube.py json FILE                     the manifest as PyYAML reads it, printed as JSON

Every mode runs with the network shut: an audit hook refuses any socket, so a validator that would
fetch a schema fails instead of reaching out. `guard-selftest` shows the hook works.
Exit: 0 ok, 1 the check failed, 3 a module is missing (scripts/setup.sh installs them).
"""

import json
import sys

BLOCKED = ("socket.__new__", "socket.connect", "socket.getaddrinfo", "socket.gethostbyname",
           "urllib.Request")


def no_network(event, args):
    if event in BLOCKED:
        raise RuntimeError(f"check-kube.py: network use refused ({event})")


def need(module, package):
    try:
        return __import__(module)
    except ImportError:
        print(f"check-kube.py: Python module {module} is missing: bash scripts/setup.sh installs "
              f"it (python3 -m pip install {package})", file=sys.stderr)
        sys.exit(3)


def validate(version, files):
    need("kubernetes_validate", "kubernetes-validate")
    from kubernetes_validate.__main__ import main
    from kubernetes_validate.version import __version__
    print(f"kubernetes-validate {__version__}, Kubernetes {version}, strict, offline")
    sys.argv = ["kubernetes-validate", "--strict", "-k", version, *files]
    return main()


def to_json(path):
    yaml = need("yaml", "pyyaml")
    with open(path, encoding="utf-8") as f:
        docs = [d for d in yaml.safe_load_all(f) if d is not None]
    print(json.dumps(docs))
    return 0


def guard_selftest():
    import socket
    try:
        socket.create_connection(("127.0.0.1", 9), timeout=1)
    except RuntimeError as e:
        print(e)
        return 0
    except OSError:
        pass
    print("check-kube.py: the network guard let a socket through", file=sys.stderr)
    return 1


def run():
    sys.addaudithook(no_network)
    mode, rest = (sys.argv[1], sys.argv[2:]) if len(sys.argv) > 1 else ("", [])
    if mode == "validate" and len(rest) >= 2:
        return validate(rest[0], rest[1:])
    if mode == "json" and len(rest) == 1:
        return to_json(rest[0])
    if mode == "guard-selftest":
        return guard_selftest()
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(run())
