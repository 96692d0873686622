# MoCo v2 on the scene benchmark v2 at its CPU preset (tools/benchmarks/scene_benchmark.py --preset cpu): the
# 2000-iteration config run twice as long, the schedule at which MoCo v2 is clearly above random initialisation
# (docs/benchmarks/scene/v2/discussion.md). Twin of configs/scl/scl_resnet18_1xb32-coslr-4000i_scenes.py.
_base_ = ['./mocov2_resnet18_1xb32-coslr-2000i_scenes.py']

param_scheduler = [dict(type='CosineAnnealingLR', T_max=4000, by_epoch=False, begin=0, end=4000)]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=4000)
default_hooks = dict(checkpoint=dict(interval=1000))
