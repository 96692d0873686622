# SCL on the embedded demo scenes: a half-width ResNet-18 with output stride 16 (4x4 maps at 64 px) on 2 CPU cores.
# Twin of configs/mocov2/mocov2_resnet18_1xb32-coslr-300i_demo.py: only the method differs.
_base_ = ['../_base_/datasets/demo_scenes.py', '../_base_/default_runtime.py']

model = dict(
    type='SCLAlgorithm',
    queue_len=4096,
    feat_dim=128,
    momentum=0.01,  # MMEngine EMA momentum (weight of the new parameters): MoCo m = 0.99 for this short run
    # Contrastive Grad-CAM from the training step's own backward (chosen over 'activation' and 'dense_contrast' on
    # the scene benchmark's train-holdout scenes: docs/benchmarks/scene/data_v2/probes.md). saliency_reduce applies
    # to 'activation' only.
    saliency_source='gradcam',
    saliency_reduce='mean_relu',
    saliency_ema=0.5,  # EMA rate of the saliency store update
    data_preprocessor={{_base_.data_preprocessor}},
    backbone=dict(type='ResNet', depth=18, base_channels=32, strides=(1, 2, 2, 1), norm_cfg=dict(type='BN'),
                  zero_init_residual=False),
    neck=dict(type='MoCoV2Neck', in_channels=256, hid_channels=256, out_channels=128, with_avg_pool=True),
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
    dict(type='SaliencyStoreHook', grid_size=16, warmup_epochs=None),
    dict(type='SaliencyVisualizationHook', num_images=6),
    # Weighted kNN top-1 of the momentum encoder on the demo's labelled objects every 100 iterations (~2 % of the
    # run's time), logged as knn/top1.
    dict(type='KNNMonitorHook', interval=100, bank={{_base_.knn_bank}}, query={{_base_.knn_query}}, num_bank=1000,
         num_query=500),
]

optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='SGD', lr=0.06, weight_decay=1e-4, momentum=0.9))
param_scheduler = [dict(type='CosineAnnealingLR', T_max=300, by_epoch=False, begin=0, end=300)]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=300)
default_hooks = dict(logger=dict(interval=20), checkpoint=dict(type='CheckpointHook', interval=150, by_epoch=False,
                                                                max_keep_ckpts=2))
log_processor = dict(by_epoch=False)
# --auto-scale-lr scales lr by (GPUs x batch per GPU) / base_batch_size.
auto_scale_lr = dict(base_batch_size=32)
