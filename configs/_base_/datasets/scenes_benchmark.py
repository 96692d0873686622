# Scene benchmark v2 (tools/benchmarks/scene_benchmark.py): what its two pretraining configs change in the demo's
# data and views, under names of their own so that a config can inherit both its demo twin and this file.
# The recipe that makes MoCo v2 learn on 1000 scenes of 128 px (docs/benchmarks/scene/data_v2/probes.md):
# - strong colour augmentation (hue 0.5, saturation 0.8, grayscale p 0.5): each scene has its own colour field and
#   garment tints, and MoCo v2's mild jitter (hue 0.1) lets instance discrimination be solved by colour alone
#   (+11 linear top-1 in the probes, the largest single move);
# - data from build_scene_dataset.py's default "textures" backgrounds (data v2) under data/scenes_benchmark
#   (the benchmark passes its own data root).
# - SCL's views jitter colour with FusedColorJitter: mmpretrain's ColorJitter (Pillow backend) bit for bit, with the
#   same random draws, at about two thirds of its cost on 64 px views (docs/benchmarks/throughput.md).
#   Likewise FusedRandomGrayscale and FusedRandomFlip: mmcv's RandomGrayscale and RandomFlip bit for bit, same draws.
_jitter = dict(brightness=0.4, contrast=0.4, saturation=0.8, hue=0.5)
_grey = dict(prob=0.5, keep_channels=True, channel_weights=(0.114, 0.587, 0.2989))
_flip = dict(prob=0.5)
bench_view_augment = [
    dict(type='RandomApply', transforms=[dict(type='FusedColorJitter', **_jitter)], prob=0.8),
    dict(type='FusedRandomGrayscale', **_grey),
    dict(type='FusedRandomFlip', **_flip),
]
# MoCo v2's views (mmpretrain's own transforms throughout: the unpaired reference): independent crops, then the same
# augmentation (64 px: the demo's view_size).
bench_moco_view_pipeline = [
    dict(type='RandomResizedCrop', scale=64, crop_ratio_range=(0.2, 1.0), backend='cv2'),
    dict(type='RandomApply', transforms=[dict(type='ColorJitter', **_jitter)], prob=0.8),
    dict(type='RandomGrayscale', **_grey),
    dict(type='RandomFlip', **_flip),
]
# KNNMonitorHook's labelled sets (the demo's test pipeline: whole 32 px objects resized to the view size).
bench_knn_bank = dict(type='CustomDataset', data_root='data/scenes_benchmark/cls/', ann_file='train.txt',
                      data_prefix='', pipeline=[dict(type='LoadImageFromFile'), dict(type='Resize', scale=64),
                                                dict(type='PackInputs')])
bench_knn_query = dict(bench_knn_bank, ann_file='test.txt')
