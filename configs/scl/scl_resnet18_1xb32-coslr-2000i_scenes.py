# SCL on the scene benchmark v2 (tools/benchmarks/scene_benchmark.py; docs/benchmarks/scene/): the demo config with
# the benchmark's recipe. Twin of configs/mocov2/mocov2_resnet18_1xb32-coslr-2000i_scenes.py: only the method differs.
# Against the demo: queue 256 (a 4096 queue on 1000 scenes holds every scene ~4 times, so its own earlier views are
# negatives and the loss rises), lr 0.01, strong colour jitter, 2000 iterations. Saliency: the demo's Grad-CAM.
_base_ = ['./scl_resnet18_1xb32-coslr-300i_demo.py', '../_base_/datasets/scenes_benchmark.py']

model = dict(queue_len=256)
# Each scene is decoded once per process (LoadImageFromFileCached: LoadImageFromFile's bytes, kept in memory; the
# 1000 benchmark scenes take 49 MB at 128 px) and the colour jitter is FusedColorJitter (scenes_benchmark.py).
train_pipeline = [
    dict(type='LoadImageFromFileCached'),
    dict(type='SaliencyCropTransform', size={{_base_.view_size}}, backend={{_base_.crop_backend}},
         scale=(0.2, 1.0), gamma=1.0, anchor='saliency'),
    dict(type='MultiViewWithKeys', num_views=2, transforms={{_base_.bench_view_augment}},
         keys=dict(flip=False, flip_direction='none')),
    dict(type='PackInputs', algorithm_keys=['crop_bbox', 'saliency_score', 'view_flip', 'view_flip_direction'],
         meta_keys=['sample_idx', 'img_path', 'ori_shape']),
]
train_dataloader = dict(dataset=dict(data_root='data/scenes_benchmark/scenes/', pipeline=train_pipeline))
test_dataloader = dict(dataset=dict(data_root='data/scenes_benchmark/cls/'))
custom_hooks = [
    dict(type='SaliencyStoreHook', grid_size=16, warmup_epochs=None),  # warm-up: 10 % = 200 iterations
    dict(type='SaliencyVisualizationHook', num_images=6),
    dict(type='KNNMonitorHook', interval=500, bank={{_base_.bench_knn_bank}}, query={{_base_.bench_knn_query}},
         num_bank=1000, num_query=500),
]
optim_wrapper = dict(optimizer=dict(lr=0.01))
param_scheduler = [dict(type='CosineAnnealingLR', T_max=2000, by_epoch=False, begin=0, end=2000)]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=2000)
default_hooks = dict(logger=dict(interval=50), checkpoint=dict(interval=500, max_keep_ckpts=-1))
