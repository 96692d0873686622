#!/usr/bin/env bash
# One install path for README, CI and users:
#   bash tools/install.sh              # the pretraining stack, nothing compiled (mmcv-lite): the quick start
#   bash tools/install.sh --with-ops   # + mmcv 2.1.0 with its compiled ops (detection transfer; the test suite)
# Creates (or reuses) a virtual environment at .venv/ in the repository root and installs the pinned stack:
#   torch 2.14.1 + torchvision 0.29.1, mmcv 2.1.0 (mmcv-lite, or with --with-ops the full build: compiled from the
#   PyPI sdist once and cached as a wheel), mmengine, mmpretrain, mmdet, openmim, and `scl` itself in editable mode;
#   with --with-ops also the test tools.
# A full mmcv that is already installed is never replaced by mmcv-lite; --with-ops uninstalls mmcv-lite first, so the
# files of the two never mix.
# Idempotent: when nothing changed since the last successful run it only checks the imports (seconds).
#
# Environment knobs:
#   SCL_VENV           where the venv lives (default: <repo>/.venv)
#   SCL_PYTHON         interpreter used to create the venv (default: python3.11, else python3)
#   SCL_WHEEL_CACHE    where the built mmcv wheel is kept (default: ~/.cache/scl/wheels)
#   SCL_SKIP_APT=1     do not try to apt-get install Fashion-MNIST and the photo packages
#   SCL_FORCE=1        re-run every step even if the stamp says the venv is up to date
set -euo pipefail

WITH_OPS=0
for arg in "$@"; do
    case "$arg" in
        --with-ops) WITH_OPS=1 ;;
        -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
        *) printf '[install] ERROR: unknown option %s (the one option is --with-ops)\n' "$arg" >&2; exit 2 ;;
    esac
done

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
    # the mode is part of the stamp: a lite install is not up to date for --with-ops
    { cat "$ROOT"/requirements/*.txt "$ROOT/setup.py" "$ROOT/tools/install.sh"; echo "with_ops=$WITH_OPS"; } \
        | sha256sum | cut -d' ' -f1
}

imports_ok() {
    local ops=""
    [ "$WITH_OPS" = 1 ] && ops="import mmcv.ops, pytest"
    # from / (not the repository root, which Python would put first on sys.path): the installed scl must import
    (cd / && "$VENV/bin/python" -c "import mim, mmcv, mmdet, mmpretrain, scl; assert scl.__file__; $ops") >/dev/null 2>&1
}

apt_packages

if [ "${SCL_FORCE:-0}" != 1 ] && [ -f "$STAMP" ] && grep -qx "$(inputs_hash)" "$STAMP" && imports_ok; then
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
log "installing torch 2.14.1 / torchvision 0.29.1"
# --no-compile: no .pyc for torch's thousands of modules at install time (Python writes those it imports on first use).
"${PIP[@]}" install -q --no-compile 'torch==2.14.1' 'torchvision==0.29.1' 'numpy<2'

# ---------------------------------------------------------------------------------------------------------------
# 3. mmcv 2.1.0 (full): build the sdist once, cache the wheel, always install from the wheel
# ---------------------------------------------------------------------------------------------------------------
mmcv_installed() {  # the full build, with its compiled ops
    "$VENV/bin/python" -c "import mmcv, mmcv.ops, sys; sys.exit(mmcv.__version__ != '$MMCV_VERSION')" >/dev/null 2>&1
}

build_mmcv_wheel() {
    local tmp; tmp=$(mktemp -d)
    log "building mmcv $MMCV_VERSION from the PyPI sdist (about 6 minutes on 2 cores; cached afterwards in $WHEEL_CACHE)"
    "${PIP[@]}" install -q -r "$ROOT/requirements/build.txt"
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
elif [ "$WITH_OPS" = 1 ]; then
    if "$VENV/bin/python" -m pip show -q mmcv-lite >/dev/null 2>&1; then
        log "uninstalling mmcv-lite (the full build replaces it)"
        "${PIP[@]}" uninstall -q -y mmcv-lite
    fi
    if ! ls "$WHEEL_CACHE"/mmcv-"$MMCV_VERSION"-*.whl >/dev/null 2>&1; then
        build_mmcv_wheel
    else
        log "using cached wheel $(ls "$WHEEL_CACHE"/mmcv-"$MMCV_VERSION"-*.whl | head -1)"
    fi
    # with its dependencies (mmengine, opencv, ...), held to the pinned versions
    "${PIP[@]}" install -q --only-binary mmcv --find-links "$WHEEL_CACHE" -c "$ROOT/requirements/pinned.txt" \
        "mmcv==$MMCV_VERSION"
    mmcv_installed || die "mmcv $MMCV_VERSION installed but 'import mmcv.ops' fails; delete $WHEEL_CACHE and rerun"
else
    log "installing mmcv-lite $MMCV_VERSION (no compiled ops: 'bash tools/install.sh --with-ops' adds them)"
    "${PIP[@]}" install -q --only-binary mmcv-lite -c "$ROOT/requirements/pinned.txt" "mmcv-lite==$MMCV_VERSION"
fi

# ---------------------------------------------------------------------------------------------------------------
# 4. The rest of the stack, the tests' tools, and scl (editable)
# ---------------------------------------------------------------------------------------------------------------
REQS=(-r "$ROOT/requirements/pinned.txt" -r "$ROOT/requirements/runtime.txt" -r "$ROOT/requirements/det.txt"
      -r "$ROOT/requirements/openmim.txt")
[ "$WITH_OPS" = 1 ] && REQS+=(-r "$ROOT/requirements/tests.txt")
log "installing mmengine / mmpretrain / mmdet (requirements/pinned.txt)$([ "$WITH_OPS" = 1 ] && echo ', test tools')"
"${PIP[@]}" install -q "${REQS[@]}"
# openmim without its dependencies: they pin setuptools 60 (see requirements/openmim.txt); the ones mim uses are there.
"${PIP[@]}" install -q --no-deps 'openmim==0.3.9'
log "installing scl (editable)"
# compat mode: the source tree itself goes on sys.path (a plain .pth entry). OpenMMLab's mim (and mmengine's `scl::`
# config prefix) look for the package's `.mim` folder next to the installed metadata, in site-packages/scl; a link
# there to the tree's scl/.mim gives them the configs, tools and model index. The link holds no __init__.py, so
# `import scl` still imports the source tree (a regular package wins over a folder without one).
"${PIP[@]}" install -q --no-deps --no-build-isolation --use-pep517 -e "$ROOT" --config-settings editable_mode=compat
SITE="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
mkdir -p "$SITE/scl"
ln -sfn "$ROOT/scl/.mim" "$SITE/scl/.mim"

(cd / && "$VENV/bin/python" -c "import mmcv, mmdet, mmpretrain, scl; assert scl.__file__, 'scl imports as an empty namespace'; from scl.utils.mmcv_ops import has_ops; print('scl', scl.__version__, '| mmcv', mmcv.__version__, 'with ops' if has_ops() else '(lite: no ops)', '| mmdet', mmdet.__version__, '| mmpretrain', mmpretrain.__version__)") \
    || die "the stack is installed but does not import (see the message above)"
# A --with-ops install also satisfies the lite mode: stamp both, so a later plain run is a no-op.
{ inputs_hash; if [ "$WITH_OPS" = 1 ]; then WITH_OPS=0 inputs_hash; fi; } > "$STAMP"
log "done: activate with 'source $VENV/bin/activate'"
