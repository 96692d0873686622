# Scene benchmark semi-supervised fine-tuning with 1% of the labels (data/demo/cls/train_1percent.txt, written
# class-balanced and seeded by the scene builder): the whole network, SGD lr 0.01 (head x 100), wd 5e-4, 20 epochs.
_base_ = ['../../../_base_/datasets/scenes_cls.py', '../../../_base_/eval_runtime.py']

model = dict(
    type='ImageClassifier',
    data_preprocessor={{_base_.data_preprocessor}},
    backbone=dict(
        type='ResNet', depth=18, base_channels=32, strides=(1, 2, 2, 1), num_stages=4, out_indices=(3, ),
        style='pytorch', norm_eval=False,
        init_cfg=dict(type='Pretrained', checkpoint={{_base_.pretrained}}, prefix='backbone.')),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=10, in_channels=256,
              loss=dict(type='CrossEntropyLoss', loss_weight=1.0), topk=(1, )))

train_dataloader = dict(batch_size=32, dataset=dict(ann_file='train_1percent.txt'))
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=5e-4),
    paramwise_cfg=dict(custom_keys={'head': dict(lr_mult=100)}))
param_scheduler = [dict(type='CosineAnnealingLR', T_max=20, by_epoch=True, begin=0, end=20)]
train_cfg = dict(by_epoch=True, max_epochs=20, val_interval=5)
val_cfg = dict()
test_cfg = dict()
# --auto-scale-lr scales lr by (GPUs x batch per GPU) / base_batch_size.
auto_scale_lr = dict(base_batch_size=32)
