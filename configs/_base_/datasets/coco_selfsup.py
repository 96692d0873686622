# COCO train2017 as unlabeled scenes (mmdet layout: data/coco/train2017/*.jpg). Views: 224 px.
dataset_type = 'SceneImageDataset'
data_root = 'data/coco/'
train_dataloader = dict(
    batch_size=32,
    num_workers=8,
    persistent_workers=True,
    pin_memory=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    # The last batch of an epoch is short unless the data set's length is a multiple of the batch (COCO train2017:
    # 118287 images): a short batch would misalign the MoCo queue. Dropped, as mmpretrain's MoCo configs do.
    drop_last=True,
    dataset=dict(type=dataset_type, data_root=data_root, data_prefix='train2017', pipeline=None))
data_preprocessor = dict(
    type='SelfSupDataPreprocessor', mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], to_rgb=True)
# MoCo v2 per-view augmentation (after the crop).
view_augment = [
    dict(type='RandomApply',
         transforms=[dict(type='ColorJitter', brightness=0.4, contrast=0.4, saturation=0.4, hue=0.1)],
         prob=0.8),
    dict(type='RandomGrayscale', prob=0.2, keep_channels=True, channel_weights=(0.114, 0.587, 0.2989)),
    dict(type='RandomApply', transforms=[dict(type='GaussianBlur', magnitude_range=(0.1, 2.0),
                                              magnitude_std='inf', prob=1.0)], prob=0.5),
    dict(type='RandomFlip', prob=0.5),
]
# The two methods' views: SCL crops both views together (SaliencyCropTransform, then view_augment per view);
# MoCo v2 crops each view independently (RandomResizedCrop, then the same view_augment).
view_size = 224
crop_backend = 'pillow'
moco_view_pipeline = [
    dict(type='RandomResizedCrop', scale=view_size, crop_ratio_range=(0.2, 1.0), backend=crop_backend)
] + view_augment
# Test loop (tools/test.py) and mmpretrain's get_model / FeatureExtractor: ImageNet val (mmpretrain layout) resized
# and centre-cropped to the view size, embedded by the backbone, scored by leave-one-out weighted kNN (k=200, T=0.07).
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=256, edge='short', backend=crop_backend),
    dict(type='CenterCrop', crop_size=view_size),
    dict(type='PackInputs'),
]
test_dataloader = dict(
    batch_size=64,
    num_workers=8,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),  # one batch tensor (SelfSupDataPreprocessor reads a list as views)
    dataset=dict(type='ImageNet', data_root='data/imagenet', split='val', pipeline=test_pipeline))
test_cfg = dict(type='TestLoop')
test_evaluator = dict(type='KNNAccuracy', k=200, temperature=0.07)
