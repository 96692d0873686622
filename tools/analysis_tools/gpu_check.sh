#!/usr/bin/env bash
# GPU check of the cluster path (never part of CI; needs a GPU):
#   bash tools/analysis_tools/gpu_check.sh [WORK_DIR]
#
# On the demo scenes (built if missing), with the ResNet-50 configs at 224 px:
#   1. SCL with --amp (fp16, loss scaling), guided from the first iteration (warm-up 0), killed with SIGKILL after
#      KILL_AT iterations, then resumed with --resume to ITERS: the resume must load the checkpoint onto the GPU and
#      restore the saliency store from it (mmengine's Runner.resume maps checkpoints to the current device);
#   2. throughput: SCL and MoCo v2 for ITERS iterations each with --amp, images/s from mmengine's logged step times
#      (median over the iterations after the first min(10, ITERS / 5)).
# Writes WORK_DIR/gpu_check.json and prints a summary with the card's name.
#
# Environment: ITERS (50), KILL_AT (30), CKPT_EVERY (10), BATCH (32 per GPU), WORKERS (8), GPUS (1), AMP (1; 0 for a
# CPU dry run of the script itself, e.g. AMP=0 ITERS=6 KILL_AT=4 CKPT_EVERY=2 BATCH=4 WORKERS=2), PYTHON.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
WORK_DIR=$(realpath -m "${1:-work_dirs/gpu_check}")
ITERS=${ITERS:-50}
KILL_AT=${KILL_AT:-30}
CKPT_EVERY=${CKPT_EVERY:-10}
BATCH=${BATCH:-32}
WORKERS=${WORKERS:-8}
GPUS=${GPUS:-1}
AMP=${AMP:-1}
PY=${PYTHON:-${SCL_VENV:-$ROOT/.venv}/bin/python}
[ "$CKPT_EVERY" -le "$KILL_AT" ] && [ "$KILL_AT" -lt "$ITERS" ] \
    || { echo "need CKPT_EVERY ($CKPT_EVERY) <= KILL_AT ($KILL_AT) < ITERS ($ITERS)" >&2; exit 2; }
AMP_ARG=()
[ "$AMP" = 1 ] && AMP_ARG=(--amp)
mkdir -p "$WORK_DIR"
log() { printf '[gpu_check %s] %s\n' "$(date +%H:%M:%S)" "$*"; }

[ -f data/demo/meta.json ] || "$PY" tools/dataset_converters/build_scene_dataset.py data/demo

# A derived config per method: the COCO ResNet-50 config on the demo scenes, iteration-based.
make_config() {  # name base_config extra_lines
    cat > "$WORK_DIR/$1.py" <<EOF
_base_ = '$ROOT/$2'
train_dataloader = dict(batch_size=$BATCH, num_workers=$WORKERS, persistent_workers=True,
                        sampler=dict(type='InfiniteSampler', shuffle=True),
                        dataset=dict(data_root='$ROOT/data/demo/scenes/', data_prefix='train'))
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=$ITERS)
param_scheduler = [dict(type='CosineAnnealingLR', T_max=$ITERS, by_epoch=False, begin=0, end=$ITERS)]
default_hooks = dict(logger=dict(interval=1),
                     checkpoint=dict(type='CheckpointHook', interval=$CKPT_EVERY, by_epoch=False, max_keep_ckpts=3))
log_processor = dict(by_epoch=False)
$3
EOF
}
make_config scl_r50_gpu_check configs/scl/scl_resnet50_8xb32-coslr-800e_coco.py \
    "custom_hooks = [dict(type='SaliencyStoreHook', grid_size=16, warmup_epochs=0)]"
make_config mocov2_r50_gpu_check configs/mocov2/mocov2_resnet50_8xb32-coslr-800e_coco.py ""

if [ "$GPUS" -gt 1 ]; then
    RUN=(env PYTHON="$PY" bash tools/dist_train.sh); RUN_GPUS=("$GPUS")
else
    RUN=("$PY" tools/train.py); RUN_GPUS=()
fi
train() {  # config work_dir [extra tools/train.py args]
    local cfg=$1 wd=$2; shift 2
    "${RUN[@]}" "$cfg" "${RUN_GPUS[@]}" --work-dir "$wd" "${AMP_ARG[@]}" "$@"
}

# 1. Kill and resume.
KR="$WORK_DIR/scl_kill_resume"
rm -rf "$KR"
log "SCL ResNet-50, ${AMP_ARG[*]:-fp32}: start, SIGKILL after iteration $KILL_AT"
setsid "${RUN[@]}" "$WORK_DIR/scl_r50_gpu_check.py" "${RUN_GPUS[@]}" --work-dir "$KR" "${AMP_ARG[@]}" \
    > "$WORK_DIR/kill_run.log" 2>&1 &
PID=$!
until grep -q "Iter(train) \[ *$KILL_AT/$ITERS\]" "$WORK_DIR/kill_run.log" 2>/dev/null; do
    kill -0 "$PID" 2>/dev/null || { tail -30 "$WORK_DIR/kill_run.log"; log "the run ended before iteration $KILL_AT"; exit 1; }
    sleep 1
done
kill -KILL -- "-$PID" 2>/dev/null || kill -KILL "$PID"
wait "$PID" 2>/dev/null || true
[ -f "$KR/last_checkpoint" ] || { log "no checkpoint was written before the kill"; exit 1; }
LAST_CKPT=$(cat "$KR/last_checkpoint")
log "killed; last checkpoint $LAST_CKPT; resuming to $ITERS"
train "$WORK_DIR/scl_r50_gpu_check.py" "$KR" --resume > "$WORK_DIR/resume_run.log" 2>&1 \
    || { tail -40 "$WORK_DIR/resume_run.log"; log "resume FAILED"; exit 1; }
grep -q "restored the saliency store from the checkpoint" "$WORK_DIR/resume_run.log" \
    || { log "resume did not restore the saliency store"; exit 1; }
[ -f "$KR/iter_$ITERS.pth" ] || { log "no iter_$ITERS.pth after the resume"; exit 1; }
log "resume OK: store restored, iter_$ITERS.pth written"

# 2. Throughput, SCL vs MoCo v2.
for m in scl mocov2; do
    rm -rf "$WORK_DIR/${m}_speed"
    log "$m ResNet-50 throughput run ($ITERS iterations)"
    train "$WORK_DIR/${m}_r50_gpu_check.py" "$WORK_DIR/${m}_speed" > "$WORK_DIR/${m}_speed.log" 2>&1 \
        || { tail -40 "$WORK_DIR/${m}_speed.log"; log "$m run FAILED"; exit 1; }
done

"$PY" - "$WORK_DIR" "$BATCH" "$GPUS" "$AMP" "$LAST_CKPT" "$(( ITERS / 5 < 10 ? ITERS / 5 : 10 ))" <<'EOF'
import glob, json, os.path as osp, statistics, sys
import torch
work_dir, batch, gpus, amp, last_ckpt = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == '1', sys.argv[5]
skip = int(sys.argv[6])  # warm-up iterations left out of the timing (cudnn autotuning, worker start)


def step_times(run_dir):
    files = sorted(glob.glob(osp.join(run_dir, '*', 'vis_data', 'scalars.json')))
    rows = [json.loads(line) for line in open(files[-1])]
    return [r['time'] for r in rows if 'time' in r and r.get('iter', r.get('step', 0)) > skip]


out = dict(card=torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'cpu (dry run)', gpus=gpus,
           batch_per_gpu=batch, amp=amp, view_size=224, network='ResNet-50', kill_resume=dict(
               killed_after_checkpoint=osp.basename(last_ckpt), store_restored=True, finished=True))
for m in ('scl', 'mocov2'):
    t = statistics.median(step_times(osp.join(work_dir, f'{m}_speed')))
    out[m] = dict(step_s=t, images_per_s=batch * gpus / t)
out['scl_over_mocov2_step_time'] = out['scl']['step_s'] / out['mocov2']['step_s']
json.dump(out, open(osp.join(work_dir, 'gpu_check.json'), 'w'), indent=2)
print(f"{out['card']} x {gpus}, batch {batch}/GPU, 224 px, {'AMP fp16' if amp else 'fp32'}: SCL "
      f"{out['scl']['images_per_s']:.1f} img/s, MoCo v2 {out['mocov2']['images_per_s']:.1f} img/s "
      f"(step time ratio {out['scl_over_mocov2_step_time']:.3f}); kill at a checkpoint + resume: OK")
EOF
log "wrote $WORK_DIR/gpu_check.json"
