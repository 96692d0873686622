# COCO Mask R-CNN R50-FPN 1x from a self-supervised ResNet-50 (SyncBN in backbone and FPN, all stages trained, as in
# MoCo / DenseCL / ORL transfer). data/coco (mmdet layout). Single-process runs fall back to BN (tools/train.py).
_base_ = 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['scl'], allow_failed_imports=False)
# Pass the pretraining checkpoint: tools/benchmarks/mmdetection/train.sh <config> <checkpoint> <gpus>
pretrained = 'PRETRAINED_CHECKPOINT_REQUIRED'
norm_cfg = dict(type='SyncBN', requires_grad=True)

model = dict(
    backbone=dict(
        type='ResNet', depth=50, num_stages=4, out_indices=(0, 1, 2, 3), frozen_stages=-1, norm_cfg=norm_cfg,
        norm_eval=False, style='pytorch',
        init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    neck=dict(type='FPN', in_channels=[256, 512, 1024, 2048], out_channels=256, num_outs=5, norm_cfg=norm_cfg))
custom_hooks = [dict(type='PretrainedCheckHook', new_modules=('neck', 'rpn_head', 'roi_head'))]
