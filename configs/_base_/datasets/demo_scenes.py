# The embedded demo: scenes of Fashion-MNIST objects on real photos (tools/dataset_converters/build_scene_dataset.py
# writes them to data/demo). 128 px scenes, 64 px views, a small ResNet-18 on 2 CPU cores.
dataset_type = 'SceneImageDataset'
data_root = 'data/demo/scenes/'
train_dataloader = dict(
    batch_size=32,
    num_workers=2,
    persistent_workers=True,
    # mmengine's InfiniteSampler that also tells each sample its position in the run: its random numbers and its
    # warm-up decision follow from (seed, sample, position), not from loader workers or timing.
    sampler=dict(type='KeyedInfiniteSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type=dataset_type, data_root=data_root, data_prefix='train', pipeline=None))
data_preprocessor = dict(
    type='SelfSupDataPreprocessor', mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], to_rgb=True)
# MoCo v2 per-view augmentation; no blur at 64 px.
view_augment = [
    dict(type='RandomApply',
         transforms=[dict(type='ColorJitter', brightness=0.4, contrast=0.4, saturation=0.4, hue=0.1)],
         prob=0.8),
    dict(type='RandomGrayscale', prob=0.2, keep_channels=True, channel_weights=(0.114, 0.587, 0.2989)),
    dict(type='RandomFlip', prob=0.5),
]
# The two methods' views: SCL crops both views together (SaliencyCropTransform, then view_augment per view);
# MoCo v2 crops each view independently (RandomResizedCrop, then the same view_augment).
view_size = 64
crop_backend = 'cv2'
moco_view_pipeline = [
    dict(type='RandomResizedCrop', scale=view_size, crop_ratio_range=(0.2, 1.0), backend=crop_backend)
] + view_augment
# Test loop (tools/test.py) and mmpretrain's get_model / FeatureExtractor: whole images at the view size, embedded
# by the backbone; scored by leave-one-out weighted kNN on the demo's labelled object-centric test set.
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=view_size, backend=crop_backend),
    dict(type='PackInputs'),
]
test_dataloader = dict(
    batch_size=128,
    num_workers=2,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),  # one batch tensor (SelfSupDataPreprocessor reads a list as views)
    dataset=dict(type='CustomDataset', data_root='data/demo/cls/', ann_file='test.txt', data_prefix='',
                 pipeline=test_pipeline))
test_cfg = dict(type='TestLoop')
test_evaluator = dict(type='KNNAccuracy', k=200, temperature=0.07)
# KNNMonitorHook's labelled sets: the object-centric split with the test pipeline (train.txt as bank, test.txt as
# queries).
knn_bank = dict(type='CustomDataset', data_root='data/demo/cls/', ann_file='train.txt', data_prefix='',
                pipeline=test_pipeline)
knn_query = dict(knn_bank, ann_file='test.txt')
