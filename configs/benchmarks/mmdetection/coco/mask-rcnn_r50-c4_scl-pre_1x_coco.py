# COCO Mask R-CNN R50-C4 1x from a self-supervised ResNet-50: stages 1-3 in the backbone, stage 4 as the RoI shared
# head, both loaded from the checkpoint; SyncBN; pytorch-style ResNet and RGB normalisation (not caffe's).
_base_ = 'mmdet::mask_rcnn/mask-rcnn_r50-caffe-c4_1x_coco.py'
custom_imports = dict(imports=['scl'], allow_failed_imports=False)
# Pass the pretraining checkpoint: tools/benchmarks/mmdetection/train.sh <config> <checkpoint> <gpus>
pretrained = 'PRETRAINED_CHECKPOINT_REQUIRED'
norm_cfg = dict(type='SyncBN', requires_grad=True)

model = dict(
    data_preprocessor=dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], bgr_to_rgb=True),
    backbone=dict(
        type='ResNet', depth=50, num_stages=3, strides=(1, 2, 2), dilations=(1, 1, 1), out_indices=(2, ),
        frozen_stages=-1, norm_cfg=norm_cfg, norm_eval=False, style='pytorch',
        init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    roi_head=dict(
        shared_head=dict(
            type='ResLayer', depth=50, stage=3, stride=2, dilation=1, style='pytorch', norm_cfg=norm_cfg,
            norm_eval=False, init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix='backbone.'))))
custom_hooks = [
    dict(type='PretrainedCheckHook', new_modules=('rpn_head', 'roi_head'),
         allow_unexpected={'backbone': ['layer4.*'], 'roi_head.shared_head': ['conv1.*', 'bn1.*', 'layer[123].*']})
]
