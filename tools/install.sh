#!/usr/bin/env bash
# One install path for README, CI and users:
#   bash tools/install.sh
# Creates (or reuses) a virtual environment at .venv/ in the repository root and installs the pinned stack:
#   torch 2.14.1 + torchvision 0.29.1, mmcv 2.1.0 (full, built from the PyPI sdist once and cached as a wheel),
#   mmengine, mmpretrain, mmdet, the test tools, and `scl` itself in editable mode.
# Idempotent: when nothing changed since the last successful run it only checks the imports (seconds).
#
# Environment knobs:
#   SCL_VENV           where the venv lives (default: <repo>/.venv)
#   SCL_PYTHON         interpreter used to create the venv (default: python3.11, else python3)
#   SCL_WHEEL_CACHE    where the built mmcv wheel is kept (default: ~/.cache/scl/wheels)
#   SCL_SKIP_APT=1     do not try to apt-get install Fashion-MNIST and the photo packages
#   SCL_FORCE=1        re-run every step even if the stamp says the venv is up to date
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${SCL_VENV:-$ROOT/.venv}"
WHEEL_CACHE="${SCL_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/scl/wheels}"
MMCV_VERSION=2.1.0
STAMP="$VENV/.scl-install-stamp"
START=$(date +%s)

log() { printf '[install %3ds] %s\n' "$(( $(date +%s) - START ))" "$*"; }
die() { printf '[install] ERROR: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------------------------------------------------------
# 0. System data packages (Fashion-MNIST objects, real photo backgrounds). Optional: the builder explains what to do
#    when they are missing, and accepts a directory of the four Fashion-MNIST IDX .gz files instead.
# ---------------------------------------------------------------------------------------------------------------
apt_packages() {
    [ "${SCL_SKIP_APT:-0}" = 1 ] && return 0
    local want=()
    [ -d /usr/share/datasets/fashion-mnist ] || want+=(dataset-fashion-mnist)
    [ -d /usr/share/darknet/data ] || want+=(darknet)
    [ ${#want[@]} -eq 0 ] && return 0
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
        log "not root or no apt-get: skipping ${want[*]} (see README 'Data')"
        return 0
    fi
    log "apt-get install ${want[*]}"
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${want[@]}" >/dev/null 2>&1; then
        apt-get update -qq >/dev/null 2>&1 || true
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${want[@]}" >/dev/null 2>&1 \
            || log "WARNING: apt-get install ${want[*]} failed; the demo data builder will say what is missing"
    fi
}

# ---------------------------------------------------------------------------------------------------------------
# 1. The virtual environment
# ---------------------------------------------------------------------------------------------------------------
pick_python() {
    if [ -n "${SCL_PYTHON:-}" ]; then echo "$SCL_PYTHON"; return; fi
    for p in python3.11 python3; do command -v "$p" >/dev/null && { echo "$p"; return; }; done
    die "no python3 found; install Python 3.11"
}

inputs_hash() {
    cat "$ROOT"/requirements/*.txt "$ROOT/setup.py" "$ROOT/tools/install.sh" | sha256sum | cut -d' ' -f1
}

imports_ok() {
    "$VENV/bin/python" - <<'EOF' >/dev/null 2>&1
import mim, mmcv.ops, mmdet, mmpretrain, scl  # noqa: F401
EOF
}

apt_packages

if [ "${SCL_FORCE:-0}" != 1 ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$(inputs_hash)" ] && imports_ok; then
    log "up to date ($VENV); set SCL_FORCE=1 to reinstall"
    exit 0
fi

if [ ! -x "$VENV/bin/python" ]; then
    PY=$(pick_python)
    "$PY" -c 'import sys; assert sys.version_info[:2] == (3, 11), sys.version' 2>/dev/null \
        || log "WARNING: $PY is not Python 3.11; the pinned torch 2.14.1 wheels on this machine type are for 3.11"
    log "creating venv at $VENV with $PY"
    "$PY" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)
export PATH="$VENV/bin:$PATH"

# ---------------------------------------------------------------------------------------------------------------
# 2. torch pair + build tools
# ---------------------------------------------------------------------------------------------------------------
log "installing torch 2.14.1 / torchvision 0.29.1 and build tools"
"${PIP[@]}" install -q 'torch==2.14.1' 'torchvision==0.29.1' -r "$ROOT/requirements/build.txt" 'numpy<2'

# ---------------------------------------------------------------------------------------------------------------
# 3. mmcv 2.1.0 (full): build the sdist once, cache the wheel, always install from the wheel
# ---------------------------------------------------------------------------------------------------------------
mmcv_installed() {
    "$VENV/bin/python" -c "import mmcv, mmcv.ops, sys; sys.exit(mmcv.__version__ != '$MMCV_VERSION')" >/dev/null 2>&1
}

build_mmcv_wheel() {
    local tmp; tmp=$(mktemp -d)
    log "building mmcv $MMCV_VERSION from the PyPI sdist (about 6 minutes on 2 cores; cached afterwards in $WHEEL_CACHE)"
    "${PIP[@]}" download -q --no-deps --no-binary :all: "mmcv==$MMCV_VERSION" -d "$tmp"
    tar -xzf "$tmp"/mmcv-"$MMCV_VERSION".tar.gz -C "$tmp"
    local src="$tmp/mmcv-$MMCV_VERSION"
    # torch 2.14's headers require C++20.
    grep -q "'-std=c++17'" "$src/setup.py" || die "mmcv setup.py no longer has '-std=c++17'; update tools/install.sh"
    sed -i "s/'-std=c++17'/'-std=c++20'/g" "$src/setup.py"
    mkdir -p "$WHEEL_CACHE"
    (cd "$src" && MMCV_WITH_OPS=1 MAX_JOBS="${MAX_JOBS:-2}" CFLAGS="-DNDEBUG -O3 -fwrapv -g0" \
        "${PIP[@]}" wheel -q --no-build-isolation --no-deps -w "$WHEEL_CACHE" .)
    rm -rf "$tmp"
}

if mmcv_installed; then
    log "mmcv $MMCV_VERSION with ops already installed"
else
    if ! ls "$WHEEL_CACHE"/mmcv-"$MMCV_VERSION"-*.whl >/dev/null 2>&1; then
        build_mmcv_wheel
    else
        log "using cached wheel $(ls "$WHEEL_CACHE"/mmcv-"$MMCV_VERSION"-*.whl | head -1)"
    fi
    "${PIP[@]}" install -q --only-binary mmcv --find-links "$WHEEL_CACHE" "mmcv==$MMCV_VERSION"
    mmcv_installed || die "mmcv $MMCV_VERSION installed but 'import mmcv.ops' fails; delete $WHEEL_CACHE and rerun"
fi

# ---------------------------------------------------------------------------------------------------------------
# 4. The rest of the stack, the tests' tools, and scl (editable)
# ---------------------------------------------------------------------------------------------------------------
log "installing mmengine / mmpretrain / mmdet (requirements/pinned.txt) and test requirements"
"${PIP[@]}" install -q --only-binary mmcv --find-links "$WHEEL_CACHE" -r "$ROOT/requirements/pinned.txt" \
    -r "$ROOT/requirements/runtime.txt" -r "$ROOT/requirements/mminstall.txt" -r "$ROOT/requirements/det.txt" \
    -r "$ROOT/requirements/tests.txt"
# openmim without its dependencies: they pin setuptools 60 (see requirements/tests.txt); the ones mim uses are there.
"${PIP[@]}" install -q --no-deps 'openmim==0.3.9'
log "installing scl (editable)"
"${PIP[@]}" install -q --no-deps --no-build-isolation -e "$ROOT"

"$VENV/bin/python" -c "import mmcv.ops, mmdet, mmpretrain, scl; print('scl', scl.__version__, '| mmcv', mmcv.__version__, '| mmdet', mmdet.__version__, '| mmpretrain', mmpretrain.__version__)" \
    || die "the stack is installed but does not import (see the message above)"
inputs_hash > "$STAMP"
log "done: activate with 'source $VENV/bin/activate'"
