# Runtime of evaluation / transfer configs: as pretraining, plus the strict pretrained-checkpoint check.
_base_ = ['./default_runtime.py']
# The pretraining checkpoint: pass it with tools/benchmarks/classification/train.sh <config> <checkpoint> <gpus>
# or --cfg-options model.backbone.init_cfg.checkpoint=<checkpoint>. The placeholder fails loudly; configs never
# fall back to supervised weights.
pretrained = 'PRETRAINED_CHECKPOINT_REQUIRED'
custom_hooks = [dict(type='PretrainedCheckHook', new_modules=('head', ))]
# The last epoch is reported (no best-on-test selection).
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=10, max_keep_ckpts=1))
