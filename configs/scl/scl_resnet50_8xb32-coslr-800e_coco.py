# SCL pretraining of ResNet-50 on COCO train2017 (8 GPUs x 32), DenseCL/ORL-style schedule (docs/method.md).
# Twin of configs/mocov2/mocov2_resnet50_8xb32-coslr-800e_coco.py: only the method differs.
_base_ = ['../_base_/datasets/coco_selfsup.py', '../_base_/schedules/sgd_coslr-800e.py',
          '../_base_/default_runtime.py']

model = dict(
    type='SCLAlgorithm',
    queue_len=65536,
    feat_dim=128,
    momentum=0.001,  # MMEngine EMA momentum (weight of the new parameters) == MoCo m = 0.999
    # Contrastive Grad-CAM from the training step's own backward (chosen over 'activation' and 'dense_contrast' on
    # the scene benchmark's train-holdout scenes: docs/benchmarks/scene/data_v2/probes.md). saliency_reduce applies
    # to 'activation' only.
    saliency_source='gradcam',
    saliency_reduce='mean_relu',
    saliency_ema=0.5,  # EMA rate of the saliency store update
    data_preprocessor={{_base_.data_preprocessor}},
    backbone=dict(type='ResNet', depth=50, norm_cfg=dict(type='BN'), zero_init_residual=False),
    neck=dict(type='MoCoV2Neck', in_channels=2048, hid_channels=2048, out_channels=128, with_avg_pool=True),
    head=dict(type='SaliencyContrastiveHead', loss=dict(type='CrossEntropyLoss'), temperature=0.2, beta=1.0,
              clip=(0.1, 10.0)))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='SaliencyCropTransform', size={{_base_.view_size}}, backend={{_base_.crop_backend}},
         scale=(0.2, 1.0), gamma=1.0, anchor='saliency'),
    dict(type='MultiViewWithKeys', num_views=2, transforms={{_base_.view_augment}},
         keys=dict(flip=False, flip_direction='none')),
    dict(type='PackInputs', algorithm_keys=['crop_bbox', 'saliency_score', 'view_flip', 'view_flip_direction'],
         meta_keys=['sample_idx', 'img_path', 'ori_shape']),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))

custom_hooks = [
    dict(type='SaliencyStoreHook', grid_size=16, warmup_epochs=80),  # 10% of 800 epochs
    dict(type='SaliencyVisualizationHook', num_images=8),
]
