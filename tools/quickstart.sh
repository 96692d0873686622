#!/usr/bin/env bash
# Quick start, command 1: install what is missing (nothing compiled: mmcv-lite), build the demo scenes, pretrain SCL
# on them.
#   bash tools/quickstart.sh [extra tools/train.py args, e.g. --cfg-options train_cfg.max_iters=50]
# Leaves work_dirs/<config name>/: checkpoints (iter_*.pth), logs, knn_curve.png and saliency/saliency_final.png;
# prints the kNN top-1 of the pretrained network beside the same network at random initialisation.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
CONFIG=${CONFIG:-configs/scl/scl_resnet18_1xb32-coslr-1000i_demo.py}
bash tools/install.sh
PY="${SCL_VENV:-$ROOT/.venv}/bin/python"
if [ ! -f data/demo/meta.json ]; then
    "$PY" tools/dataset_converters/build_scene_dataset.py data/demo
fi
"$PY" tools/train.py "$CONFIG" "$@" 2>&1 | tee "work_dirs/$(basename "$CONFIG" .py).quickstart.log"
WD="work_dirs/$(basename "$CONFIG" .py)"
echo
echo "Done. Checkpoints and logs: $WD/"
grep -h "random initialisation .* after" "$WD.quickstart.log" | tail -1 | sed 's/.*KNNMonitorHook: /Learned? /' || true
echo "kNN curve (with the random-initialisation line): $WD/knn_curve.png"
echo "saliency picture: $WD/saliency/saliency_final.png"
