# MoCo v2 with the scene benchmark's recipe on the 300 demo scenes, 1000 iterations. Twin of
# configs/scl/scl_resnet18_1xb32-coslr-1000i_demo.py (the quick start): only the method differs.
_base_ = ['./mocov2_resnet18_1xb32-coslr-2000i_scenes.py']

train_dataloader = dict(dataset=dict(data_root='data/demo/scenes/'))
test_dataloader = dict(dataset=dict(data_root='data/demo/cls/'))
custom_hooks = [
    # every labelled demo object (2000 bank, 1000 queries) and k = 20 (DINO's choice; 200 neighbours of 10 classes
    # on a bank of 2000 blur the vote)
    dict(type='KNNMonitorHook', interval=250, bank={{_base_.knn_bank}}, query={{_base_.knn_query}}, num_bank=None,
         num_query=None, k=20),
]
param_scheduler = [dict(type='CosineAnnealingLR', T_max=1000, by_epoch=False, begin=0, end=1000)]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=1000)
default_hooks = dict(logger=dict(interval=50), checkpoint=dict(interval=500, max_keep_ckpts=2))
