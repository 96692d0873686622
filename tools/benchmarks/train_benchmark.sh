#!/usr/bin/env bash
# Train an evaluation / transfer config from a pretraining checkpoint; its validation reports the metric.
#   tools/benchmarks/{classification,mmdetection}/train.sh <config> <checkpoint> <gpus> [train.py args...]
# Refuses to start without an existing checkpoint. The work dir is named after the config AND the checkpoint
# (work_dirs/benchmarks/<config>/<run>_<checkpoint>), so runs of one protocol on different checkpoints never collide.
# Environment: WORK_DIR (override), PYTHON (interpreter), DRY_RUN=1 (print the command only).
set -euo pipefail
if [ $# -lt 3 ]; then
    echo "usage: $0 <config> <checkpoint> <gpus> [tools/train.py args...]" >&2
    exit 2
fi
CONFIG=$1
CHECKPOINT=$2
GPUS=$3
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PYTHON=${PYTHON:-python}
if [ ! -f "$CONFIG" ]; then
    echo "error: config $CONFIG does not exist" >&2
    exit 2
fi
if [ ! -f "$CHECKPOINT" ]; then
    echo "error: pretraining checkpoint '$CHECKPOINT' does not exist (pass the .pth of a pretraining run, e.g." \
         "work_dirs/scl_resnet18_1xb32-coslr-300i_demo/iter_300.pth)" >&2
    exit 2
fi
CKPT_ABS="$(cd "$(dirname "$CHECKPOINT")" && pwd)/$(basename "$CHECKPOINT")"
RUN="$(basename "$(dirname "$CKPT_ABS")")_$(basename "$CHECKPOINT" .pth)"
WORK_DIR=${WORK_DIR:-work_dirs/benchmarks/$(basename "$CONFIG" .py)/$RUN}
ARGS=(--work-dir "$WORK_DIR" --cfg-options "model.backbone.init_cfg.checkpoint=$CKPT_ABS")
# The C4 detectors load stage 4 into the RoI shared head from the same checkpoint.
if grep -q "shared_head=dict" "$CONFIG"; then
    ARGS+=("model.roi_head.shared_head.init_cfg.checkpoint=$CKPT_ABS")
fi
echo "benchmark: $CONFIG <- $CKPT_ABS on $GPUS process(es); work dir $WORK_DIR"
if [ "${DRY_RUN:-0}" = 1 ]; then  # print what would run, start nothing
    echo "tools/train.py $CONFIG ${ARGS[*]} ${*:4}"
    exit 0
fi
if [ "$GPUS" -gt 1 ]; then
    PYTHON="$PYTHON" bash "$ROOT/tools/dist_train.sh" "$CONFIG" "$GPUS" "${ARGS[@]}" "${@:4}"
else
    PYTHONPATH="$ROOT":${PYTHONPATH:-} "$PYTHON" "$ROOT/tools/train.py" "$CONFIG" "${ARGS[@]}" "${@:4}"
fi
