# The quick start (bash tools/quickstart.sh): SCL with the scene benchmark's recipe (queue 256, lr 0.01, strong
# colour augmentation: configs/_base_/datasets/scenes_benchmark.py) on the 300 demo scenes, 1000 iterations. Its kNN
# monitor checks the random initialisation first and ends with both figures side by side (README, "Quick start").
# The 300-iteration demo config keeps MoCo v2's mild colour jitter and a queue of 4096: on these scenes its kNN top-1
# falls below the random initialisation (docs/benchmarks.md, "The quick start").
# Twin of configs/mocov2/mocov2_resnet18_1xb32-coslr-1000i_demo.py.
_base_ = ['./scl_resnet18_1xb32-coslr-2000i_scenes.py']

train_dataloader = dict(dataset=dict(data_root='data/demo/scenes/'))
test_dataloader = dict(dataset=dict(data_root='data/demo/cls/'))
custom_hooks = [
    dict(type='SaliencyStoreHook', grid_size=16, warmup_epochs=None),  # warm-up: 10 % = 100 iterations
    dict(type='SaliencyVisualizationHook', num_images=6),
    # every labelled demo object (2000 bank, 1000 queries) and k = 20 (DINO's choice; 200 neighbours of 10 classes
    # on a bank of 2000 blur the vote)
    dict(type='KNNMonitorHook', interval=250, bank={{_base_.knn_bank}}, query={{_base_.knn_query}}, num_bank=None,
         num_query=None, k=20),
]
param_scheduler = [dict(type='CosineAnnealingLR', T_max=1000, by_epoch=False, begin=0, end=1000)]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=1000)
default_hooks = dict(logger=dict(interval=50), checkpoint=dict(interval=500, max_keep_ckpts=2))
