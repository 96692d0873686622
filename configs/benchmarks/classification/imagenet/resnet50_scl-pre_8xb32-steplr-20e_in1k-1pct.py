# ImageNet semi-supervised fine-tuning with 1% of the labels (ORL / mmselfsup protocol): the whole network is
# fine-tuned for 20 epochs, SGD lr 0.01 (head x 100), wd 5e-4, steps at 12 / 16, batch 256 = 8 x 32.
# Subset list: data/imagenet/meta/train_1percent.txt (tools/dataset_converters/make_semi_subsets.py writes it,
# class-balanced and seeded, or converts the standard SimCLR 1percent.txt list).
_base_ = ['mmpretrain::_base_/datasets/imagenet_bs32_pil_resize.py', '../../../_base_/eval_runtime.py']

model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='ResNet', depth=50, num_stages=4, out_indices=(3, ), style='pytorch', norm_eval=False,
        init_cfg=dict(type='Pretrained', checkpoint={{_base_.pretrained}}, prefix='backbone.')),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=1000, in_channels=2048,
              loss=dict(type='CrossEntropyLoss', loss_weight=1.0), topk=(1, 5)))

train_dataloader = dict(dataset=dict(ann_file='meta/train_1percent.txt'))
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=5e-4),
    paramwise_cfg=dict(custom_keys={'head': dict(lr_mult=100)}))
param_scheduler = [dict(type='MultiStepLR', by_epoch=True, milestones=[12, 16], gamma=0.1)]
train_cfg = dict(by_epoch=True, max_epochs=20, val_interval=2)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=256)
