# The headline command:  python tools/train.py configs/scl_r50_coco.py
# = configs/scl/scl_resnet50_8xb32-coslr-800e_coco.py (SCL, ResNet-50, COCO train2017 at data/coco/train2017,
# 8 GPUs x 32, 800 epochs). On fewer GPUs, mmengine's auto_scale_lr (--auto-scale-lr) keeps lr / batch fixed.
_base_ = ['./scl/scl_resnet50_8xb32-coslr-800e_coco.py']
