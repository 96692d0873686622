#!/usr/bin/env bash
# Quick start, command 1: install what is missing (nothing compiled: mmcv-lite), build the demo scenes, pretrain SCL
# on them.
#   bash tools/quickstart.sh [extra tools/train.py args, e.g. --cfg-options train_cfg.max_iters=50]
# Leaves work_dirs/<config name>/: checkpoints (iter_*.pth), logs, and saliency/saliency_final.png.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
CONFIG=${CONFIG:-configs/scl/scl_resnet18_1xb32-coslr-300i_demo.py}
bash tools/install.sh
PY="${SCL_VENV:-$ROOT/.venv}/bin/python"
if [ ! -f data/demo/meta.json ]; then
    "$PY" tools/dataset_converters/build_scene_dataset.py data/demo
fi
"$PY" tools/train.py "$CONFIG" "$@"
echo "Done. Checkpoints and logs: work_dirs/$(basename "$CONFIG" .py)/; saliency picture: work_dirs/$(basename "$CONFIG" .py)/saliency/saliency_final.png"
