# ImageNet linear evaluation of a pretrained ResNet-50: mmpretrain's MoCo v2 recipe (frozen backbone, BN in eval,
# SGD lr 30, no weight decay, steps at 60 / 80 of 100 epochs, batch 256 = 8 x 32). data/imagenet (mmpretrain layout).
_base_ = ['mmpretrain::_base_/datasets/imagenet_bs32_pil_resize.py', '../../../_base_/eval_runtime.py']

model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='ResNet', depth=50, num_stages=4, out_indices=(3, ), style='pytorch', frozen_stages=4, norm_eval=True,
        init_cfg=dict(type='Pretrained', checkpoint={{_base_.pretrained}}, prefix='backbone.')),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=1000, in_channels=2048,
              loss=dict(type='CrossEntropyLoss', loss_weight=1.0), topk=(1, 5)))

optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='SGD', lr=30., momentum=0.9, weight_decay=0.))
param_scheduler = [dict(type='MultiStepLR', by_epoch=True, milestones=[60, 80], gamma=0.1)]
train_cfg = dict(by_epoch=True, max_epochs=100, val_interval=10)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=256)
