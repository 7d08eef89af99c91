#!/usr/bin/env bash
# Runs Ray's own core microbenchmarks (tools/ray-bench/ray_microbench.py, which
# mirrors python/ray/_private/ray_perf.py of ray-project/ray) against a real
# Ray, for a side-by-side comparison with SwiftRay.
#
# Ray lives in a virtual environment OUTSIDE the repo, created on first use:
#   ${SWIFTRAY_RAY_VENV:-$HOME/.cache/swiftray/ray-venv}
# with ray==${SWIFTRAY_RAY_VERSION:-2.60.0}, numpy and psutil installed by pip.
# The interpreter for the venv is ${SWIFTRAY_RAY_PYTHON:-python3}.
# Non-interactive (works with CI=true and no stdin). Installs python3-venv with
# apt-get if the interpreter cannot make a venv and we are root.
#
# Usage: tools/ray-bench/run-ray.sh [--quick] [--only NAME[,NAME...]] [--ray-timing]
# Output (stdout): one "name<TAB>value<TAB>unit" line per figure; progress,
# install and Ray's own logging go to stderr.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
venv="${SWIFTRAY_RAY_VENV:-$HOME/.cache/swiftray/ray-venv}"
ray_version="${SWIFTRAY_RAY_VERSION:-2.60.0}"
python="${SWIFTRAY_RAY_PYTHON:-python3}"
requirements="ray==$ray_version numpy psutil"

log() { echo "run-ray: $*" >&2; }

make_venv() {
    rm -rf "$venv"
    mkdir -p "$(dirname "$venv")"
    "$python" -m venv "$venv" >&2
}

if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import sys' >/dev/null 2>&1; then
    command -v "$python" >/dev/null 2>&1 || { log "error: $python not found (set SWIFTRAY_RAY_PYTHON)"; exit 1; }
    log "creating virtual environment $venv"
    if ! make_venv; then
        # Debian/Ubuntu's system python needs python3-venv (ensurepip) for this.
        if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
            pyver="$("$python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
            log "installing python3-venv (python$pyver-venv) with apt-get"
            export DEBIAN_FRONTEND=noninteractive
            apt-get update -qq </dev/null >&2
            apt-get install -y -qq python3-venv </dev/null >&2 \
                || apt-get install -y -qq "python$pyver-venv" </dev/null >&2
            make_venv
        else
            log "error: '$python -m venv' failed; install python3-venv (as root: apt-get install -y python3-venv) and retry"
            exit 1
        fi
    fi
fi

# Reinstall only when the wanted set changed (the marker is written after a
# successful install, so an interrupted install is retried).
marker="$venv/.swiftray-requirements"
if [ "$(cat "$marker" 2>/dev/null || true)" != "$requirements" ]; then
    log "installing $requirements into $venv"
    if ! "$venv/bin/python" -m pip install --no-input --disable-pip-version-check -q $requirements </dev/null >&2; then
        log "error: pip could not install $requirements (see its message above);"
        log "       pick another version with SWIFTRAY_RAY_VERSION=X.Y.Z"
        exit 1
    fi
    echo "$requirements" >"$marker"
fi

export RAY_USAGE_STATS_ENABLED=0  # no usage report to the outside
exec "$venv/bin/python" "$here/ray_microbench.py" "$@" </dev/null
