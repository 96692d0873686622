"""The scene benchmark's presets and arms. Every arm starts from the same twin configs: only what its name says
differs from MoCo v2 (independent crops, unweighted loss) or from full SCL."""
import os.path as osp
from dataclasses import dataclass, field
from typing import List

CONFIGS = dict(
    mocov2='configs/mocov2/mocov2_resnet18_1xb32-coslr-4000i_scenes.py',
    scl='configs/scl/scl_resnet18_1xb32-coslr-4000i_scenes.py',
)
# SaliencyCropTransform's place in the SCL config's train pipeline.
_CROP = 'train_dataloader.dataset.pipeline.1'
# What the SCL config's pipeline used before the throughput issue, as overrides: mmcv's loader and mmpretrain's /
# mmcv's per-view transforms in place of the cached loader and the fused transforms (the same views bit for bit;
# tools/analysis_tools/benchmark_throughput.py times the v2 way with them, tests/test_datasets train with both).
_VIEWS = 'train_dataloader.dataset.pipeline.2.transforms'
LEGACY_PIPELINE = {'train_dataloader.dataset.pipeline.0.type': 'LoadImageFromFile',
                   f'{_VIEWS}.0.transforms.0.type': 'ColorJitter',
                   f'{_VIEWS}.1.type': 'RandomGrayscale',
                   f'{_VIEWS}.2.type': 'RandomFlip'}


@dataclass(frozen=True)
class Arm:
    """One pretraining arm: the twin config it starts from, its overrides and what it does, in words."""
    config: str  # a key of CONFIGS
    overrides: List[str] = field(default_factory=list)
    label: str = ''
    crops: str = ''  # how the two views are cut
    weights: str = ''  # how the pairs' losses are weighed
    source: str = ''  # the saliency source that drives crops and / or weights ('' for none)

    @property
    def map_source(self):
        """The source of the trained network's own map that the evaluation scores: the arm's source, or Grad-CAM
        where the arm's source is not the model's (none, or the benchmark-only ground truth)."""
        from scl.saliency import SOURCES
        own = SOURCES.get(self.source)
        return 'gradcam' if own is None or own.reads in ('annotations', 'nothing') else self.source


ARMS = {
    'mocov2': Arm('mocov2', [], 'MoCo v2', 'independent RandomResizedCrop', 'none'),
    # MoCo v2 in SCL's pipeline: SaliencyCropTransform's independent crops (RandomResizedCrop's distribution), an
    # unweighted loss, no saliency computed. It draws its random numbers where the SCL arms do, so it pairs with them.
    'mocov2_paired': Arm('scl', [f'{_CROP}.anchor=independent', 'model.head.beta=0', 'model.saliency_source=none'],
                         'MoCo v2 (SCL pipeline: independent crops, beta=0, no saliency)',
                         'independent (RandomResizedCrop-like)', 'none', 'none'),
    'scl': Arm('scl', [], 'SCL (Grad-CAM saliency)', 'saliency anchor', 'saliency', 'gradcam'),
    'scl_activation': Arm('scl', ['model.saliency_source=activation'],
                          'SCL, activation saliency (key encoder feature map)', 'saliency anchor', 'saliency',
                          'activation'),
    # A control, not a default: saliency crops from the key view's pixels (spectral residual), not from the model;
    # it localises the garments (1.81 on the validation scenes against 1.17 for Grad-CAM), so it asks whether crops
    # that follow a map that finds the objects help at all. Its pair is scl_crops_only (the same with Grad-CAM).
    # Crops only: the head's weights clip the raw score product at 0.1, and the spectral-residual store (mean 0.15,
    # peaky; Grad-CAM's 0.42) puts nearly every product below it, so with beta = 1 the weights would be uniform anyway.
    'scl_spectral_residual_crops_only': Arm('scl', ['model.saliency_source=spectral_residual', 'model.head.beta=0'],
                                            'SCL crops only (beta=0), spectral-residual saliency (model-free control)',
                                            'saliency anchor', 'none', 'spectral_residual'),
    'scl_crops_only': Arm('scl', ['model.head.beta=0'], 'SCL crops only (beta=0)', 'saliency anchor', 'none',
                          'gradcam'),
    'scl_weights_only': Arm('scl', [f'{_CROP}.anchor=independent'], 'SCL weights only (independent crops)',
                            'independent (RandomResizedCrop-like)', 'saliency', 'gradcam'),
    'shared_point_control': Arm('scl', [f'{_CROP}.anchor=uniform', 'model.head.beta=0'],
                                'shared-point crops, uniform anchor, beta=0 (crop-geometry control)',
                                'uniform shared anchor', 'none', ''),
    # The bound: the ground-truth object cover as the saliency (benchmark only; the store is written once from the
    # scenes' annotations and never updated). Its pair is shared_point_control (the same crops, a uniform anchor).
    'oracle_crops_only': Arm('scl', ['model.saliency_source=oracle', 'model.head.beta=0'],
                             'oracle crops only (anchor on the true objects, beta=0)', 'oracle anchor', 'none',
                             'oracle'),
    'oracle_full': Arm('scl', ['model.saliency_source=oracle'], 'oracle crops + weights (true object cover)',
                       'oracle anchor', 'oracle', 'oracle'),
}
# The arms run on every seed by default: MoCo v2, SCL, its two halves, their shared-point control and the
# activation source beside the configs' Grad-CAM.
DEFAULT_ARMS = ['mocov2', 'scl', 'scl_crops_only', 'scl_weights_only', 'shared_point_control', 'scl_activation']
# Benchmark v3: every arm pairs with MoCo v2 run in SCL's pipeline (common random numbers: the same sample order,
# initial weights, queue and augmentation draws), the oracle bounds what saliency can buy, spectral residual is the
# model-free map that finds the objects; mmpretrain's own MoCo v2 is the unpaired reference row (seed 0 only).
V3_ARMS = ['mocov2_paired', 'scl', 'scl_crops_only', 'oracle_crops_only', 'oracle_full',
           'scl_spectral_residual_crops_only', 'mocov2']
ARM_SETS = dict(v2=DEFAULT_ARMS, v3=V3_ARMS)


def reference_arms(arms):
    """The arms run on seed 0 only: mmpretrain's MoCo v2 where its paired twin runs (an unpaired row showing that
    the paired arm is MoCo v2; its differences are not read)."""
    return ('mocov2', ) if 'mocov2_paired' in arms and 'mocov2' in arms else ()

PRESETS = {
    # scene data; pretraining iterations and checkpoints; the frozen probe; localisation scenes; the supervised anchor
    # (trained with the pretraining budget: as many SGD steps of the same batch)
    'smoke': dict(num_train=48, num_val=8, num_cls_train=200, num_cls_test=100, pretrain_iters=12, checkpoints=2,
                  batch=8, lr=0.01, queue_len=64, workers=2, probe_size=32, probe_epochs=50, low_shot=(1.0, 10.0),
                  low_shot_draws=1, supervised_iters=12,
                  localisation_scenes=8, channels_last=True),
    # 1000 scenes of 128 px (textures), 60000 / 10000 labelled objects, batch 32, queue 256, lr 0.01, 4000 iterations;
    # the probe reads the 32 px objects resized to 64 px, the view size the encoders train at. Why each value, with
    # the measurements: docs/benchmarks/scene/data_v2/probes.md and docs/benchmarks/scene/v2/discussion.md. No loader
    # workers: on 2 cores they compete with the training step. channels_last: the encoders train in the NHWC memory
    # format (model.channels_last; docs/benchmarks/throughput.md), faster on CPU; v3's records predate it.
    'cpu': dict(num_train=1000, num_val=100, num_cls_train=60000, num_cls_test=10000, pretrain_iters=4000,
                checkpoints=4, batch=32, lr=0.01, queue_len=256, workers=0, probe_size=64, probe_epochs=300,
                low_shot=(1.0, 10.0), low_shot_draws=3,
                supervised_iters=4000, localisation_scenes=100, channels_last=True),
    # For a GPU machine: 20000 scenes, 20000 iterations of batch 128 (128 epochs), lr scaled linearly from the CPU
    # preset's 0.01 at batch 32, a queue of 4096 (a fifth of the scenes: no scene twice, unlike 4096 on 1000), 8
    # loader workers. Not yet run: no GPU was lent to the session that wrote it.
    'gpu': dict(num_train=20000, num_val=500, num_cls_train=60000, num_cls_test=10000, pretrain_iters=20000,
                checkpoints=10, batch=128, lr=0.04, queue_len=4096, workers=8, probe_size=64, probe_epochs=300,
                low_shot=(1.0, 10.0), low_shot_draws=3,
                supervised_iters=20000, localisation_scenes=500),
}


# The preset values each kind of stage depends on (probe_size is checked per record, see scored_at in the tool):
# the anchors read the data and the probe only, so a change of the pretraining schedule leaves them valid.
DATA_KEYS = ('num_train', 'num_val', 'num_cls_train', 'num_cls_test')
PROBE_KEYS = ('probe_epochs', 'low_shot', 'low_shot_draws', 'localisation_scenes')


def stage_keys(what, preset):
    """The keys of ``preset`` a stage's figures depend on: ``what`` is 'random_init', 'supervised' or an arm."""
    if what == 'random_init':
        return DATA_KEYS + PROBE_KEYS
    if what == 'supervised':
        return DATA_KEYS + PROBE_KEYS + ('supervised_iters', )
    return tuple(k for k in preset if k != 'probe_size')


def repo_root():
    """The directory holding configs/ and tools/: the source tree, or the installed package's ``scl/.mim``."""
    here = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))  # .../scl
    for root in (osp.dirname(here), osp.join(here, '.mim')):
        if osp.isfile(osp.join(root, CONFIGS['scl'])) and osp.isfile(osp.join(root, 'tools', 'train.py')):
            return root
    raise FileNotFoundError(f'no configs/ and tools/train.py next to {here}: install scl from its source tree '
                            '(pip install -e .) or with mim')


def config_path(arm):
    """The pretraining config of an arm (its name or an :class:`Arm`)."""
    arm = ARMS[arm] if isinstance(arm, str) else arm
    return osp.join(repo_root(), CONFIGS[arm.config])
