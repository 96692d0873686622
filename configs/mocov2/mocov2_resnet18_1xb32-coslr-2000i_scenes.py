# MoCo v2 on the scene benchmark v2 (tools/benchmarks/scene_benchmark.py; docs/benchmarks/scene/): the demo config
# with the benchmark's recipe. Twin of configs/scl/scl_resnet18_1xb32-coslr-2000i_scenes.py: only the method differs.
# Against the demo: queue 256, lr 0.01, strong colour jitter, 2000 iterations (see the SCL twin and
# configs/_base_/datasets/scenes_benchmark.py).
_base_ = ['./mocov2_resnet18_1xb32-coslr-300i_demo.py', '../_base_/datasets/scenes_benchmark.py']

model = dict(queue_len=256)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='MultiView', num_views=2, transforms=[{{_base_.bench_moco_view_pipeline}}]),
    dict(type='PackInputs', meta_keys=['sample_idx', 'img_path', 'ori_shape']),
]
train_dataloader = dict(dataset=dict(data_root='data/scenes_benchmark/scenes/', pipeline=train_pipeline))
test_dataloader = dict(dataset=dict(data_root='data/scenes_benchmark/cls/'))
custom_hooks = [
    dict(type='KNNMonitorHook', interval=500, bank={{_base_.bench_knn_bank}}, query={{_base_.bench_knn_query}},
         num_bank=1000, num_query=500),
]
optim_wrapper = dict(optimizer=dict(lr=0.01))
param_scheduler = [dict(type='CosineAnnealingLR', T_max=2000, by_epoch=False, begin=0, end=2000)]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=2000)
default_hooks = dict(logger=dict(interval=50), checkpoint=dict(interval=500, max_keep_ckpts=-1))
