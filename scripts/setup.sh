#!/usr/bin/env bash
# Installs what rbench's main job and tests need when it is missing: redis-server and redis-cli
# (Debian/Ubuntu packages redis-server, redis-tools), PyYAML for the offline compose check, and
# Chromium for the HTML report's browser test, Python's HdrHistogram (PyPI `hdrhistogram`,
# imported as `hdrh`) that the tests decode .hlog files with, and PyPI `kubernetes-validate`, which
# checks `rbench kube`'s manifests offline against the Kubernetes schemas it ships.
set -euo pipefail

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
    if command -v apt-get >/dev/null 2>&1; then
        echo "setup: installing redis-server and redis-tools" >&2
        as_root apt-get update -qq
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server redis-tools >/dev/null
    elif command -v brew >/dev/null 2>&1; then
        brew install redis
    else
        echo "setup: install redis-server and redis-cli (Redis >= 6.2) and re-run" >&2
        exit 1
    fi
fi

if ! python3 -c 'import yaml' >/dev/null 2>&1; then
    echo "setup: installing PyYAML (compose file checks)" >&2
    python3 -m pip install -q pyyaml 2>/dev/null \
        || as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-yaml >/dev/null
fi

# The report test renders the HTML report in a real browser (headless, no network).
if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
    if command -v apt-get >/dev/null 2>&1; then
        echo "setup: installing chromium (the HTML report's browser test)" >&2
        as_root apt-get update -qq
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    else
        echo "setup: chromium not found: the browser test will be skipped outside CI" >&2
    fi
fi

if ! python3 -c 'import hdrh' >/dev/null 2>&1; then
    # The PyPI name is hdrhistogram; there is no package called hdrh.
    echo "setup: installing hdrhistogram for Python (independent .hlog decoder in the tests)" >&2
    python3 -m pip install -q hdrhistogram
fi

if ! python3 -c 'import kubernetes_validate' >/dev/null 2>&1; then
    echo "setup: installing kubernetes-validate (offline checks of rbench kube's manifests)" >&2
    python3 -m pip install -q kubernetes-validate
fi

command -v cargo >/dev/null 2>&1 || {
    echo "setup: cargo not found: install Rust from https://rustup.rs" >&2
    exit 1
}
echo "setup: $(redis-server --version | cut -d' ' -f1-3), $(cargo --version)" >&2
