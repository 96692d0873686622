# MoCo v2 (symmetric loss) on COCO train2017, 8 GPUs x 32. Twin of configs/scl/scl_resnet50_8xb32-coslr-800e_coco.py.
_base_ = ['../_base_/datasets/coco_selfsup.py', '../_base_/schedules/sgd_coslr-800e.py',
          '../_base_/default_runtime.py']

model = dict(
    type='SymMoCo',
    queue_len=65536,
    feat_dim=128,
    momentum=0.001,  # MMEngine EMA momentum (weight of the new parameters) == MoCo m = 0.999
    data_preprocessor={{_base_.data_preprocessor}},
    backbone=dict(type='ResNet', depth=50, norm_cfg=dict(type='BN'), zero_init_residual=False),
    neck=dict(type='MoCoV2Neck', in_channels=2048, hid_channels=2048, out_channels=128, with_avg_pool=True),
    head=dict(type='ContrastiveHead', loss=dict(type='CrossEntropyLoss'), temperature=0.2))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='MultiView', num_views=2, transforms=[{{_base_.moco_view_pipeline}}]),
    dict(type='PackInputs', meta_keys=['sample_idx', 'img_path', 'ori_shape']),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
