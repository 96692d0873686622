# Scene benchmark linear probe: the demo's half-width ResNet-18 (frozen, BN in eval) on object-centric
# Fashion-MNIST-on-photos (data/demo/cls). Same protocol as ImageNet linear evaluation, scaled to 2 CPU cores.
_base_ = ['../../../_base_/datasets/scenes_cls.py', '../../../_base_/eval_runtime.py']

model = dict(
    type='ImageClassifier',
    data_preprocessor={{_base_.data_preprocessor}},
    backbone=dict(
        type='ResNet', depth=18, base_channels=32, strides=(1, 2, 2, 1), num_stages=4, out_indices=(3, ),
        style='pytorch', frozen_stages=4, norm_eval=True,
        init_cfg=dict(type='Pretrained', checkpoint={{_base_.pretrained}}, prefix='backbone.')),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=10, in_channels=256,
              loss=dict(type='CrossEntropyLoss', loss_weight=1.0), topk=(1, )))

optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='SGD', lr=1.0, momentum=0.9, weight_decay=0.))
param_scheduler = [dict(type='CosineAnnealingLR', T_max=20, by_epoch=True, begin=0, end=20)]
train_cfg = dict(by_epoch=True, max_epochs=20, val_interval=5)
val_cfg = dict()
test_cfg = dict()
# --auto-scale-lr scales lr by (GPUs x batch per GPU) / base_batch_size.
auto_scale_lr = dict(base_batch_size=64)
