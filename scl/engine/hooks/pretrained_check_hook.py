import fnmatch
import os.path as osp
from typing import Optional, Sequence

import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.optim import BaseOptimWrapper
from mmengine.runner import CheckpointLoader

PLACEHOLDER = 'PRETRAINED_CHECKPOINT_REQUIRED'
HOW_TO_PASS = ('pass the pretraining checkpoint: tools/benchmarks/{classification,mmdetection}/train.sh <config> '
               '<checkpoint> <gpus>, or tools/train.py <config> --cfg-options '
               'model.backbone.init_cfg.checkpoint=<checkpoint>')
SUPERVISED_PREFIXES = ('torchvision://', 'open-mmlab://', 'mmcls://', 'mmpretrain://', 'modelzoo://')
# Keys of a supervised hub classifier's own head (torchvision's ResNet ``fc``), which a backbone never holds.
SUPERVISED_CLASSIFIER_KEYS = ('fc.*', )


class PretrainedCheckError(ValueError):
    """A pretrained checkpoint is missing, supervised, or does not fit the model."""


def pretrained_inits(model):
    """``(module name, init_cfg)`` of every submodule initialised with ``type='Pretrained'``."""
    found = []
    for name, module in model.named_modules():
        cfgs = getattr(module, 'init_cfg', None)
        for cfg in (cfgs if isinstance(cfgs, (list, tuple)) else [cfgs]):
            if isinstance(cfg, dict) and cfg.get('type') == 'Pretrained':
                found.append((name, cfg))
    return found


def checkpoint_top_prefixes(state_dict, limit=8):
    return sorted({k.split('.', 1)[0] + '.' for k in state_dict})[:limit]


def check_pretrained_keys(module, checkpoint: str, prefix: str, allow_missing: Sequence[str] = (),
                          allow_unexpected: Sequence[str] = ()) -> dict:
    """Compare a module's keys with a checkpoint's ``prefix`` keys; raise on anything but an exact fit.

    Returns:
        dict: ``loaded`` (int), ``missing`` and ``unexpected`` (lists; ``missing`` only holds allowed keys).

    Raises:
        PretrainedCheckError: no key starts with ``prefix`` (a wrong prefix), module keys the checkpoint lacks,
            checkpoint keys the module lacks, or shape mismatches.
    """
    ckpt = CheckpointLoader.load_checkpoint(checkpoint, map_location='cpu')
    state = ckpt.get('state_dict', ckpt)
    prefix = prefix or ''
    sub = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    if not sub:
        raise PretrainedCheckError(
            f'no key of {checkpoint} starts with {prefix!r} (a wrong prefix?); its keys start with '
            f'{checkpoint_top_prefixes(state)}. SCL / MoCo checkpoints and tools/model_converters/extract_backbone.py '
            "outputs keep the backbone under 'backbone.'")
    own = module.state_dict()
    missing = [k for k in own if k not in sub]
    bad_missing = [k for k in missing if not any(fnmatch.fnmatch(k, p) for p in allow_missing)]
    unexpected = [k for k in sub if k not in own]
    bad_unexpected = [k for k in unexpected if not any(fnmatch.fnmatch(k, p) for p in allow_unexpected)]
    mismatched = [f'{k}: checkpoint {tuple(sub[k].shape)} vs model {tuple(own[k].shape)}' for k in sub
                  if k in own and tuple(sub[k].shape) != tuple(own[k].shape)]
    problems = []
    if bad_missing:
        problems.append(f'{len(bad_missing)} model keys missing from the checkpoint, e.g. {bad_missing[:5]}')
    if bad_unexpected:
        problems.append(f'{len(bad_unexpected)} checkpoint keys the model does not have, e.g. {bad_unexpected[:5]}')
    if mismatched:
        problems.append(f'{len(mismatched)} shape mismatches, e.g. {mismatched[:3]}')
    if problems:
        raise PretrainedCheckError(f'{checkpoint} (prefix {prefix!r}) does not fit the model: ' + '; '.join(problems)
                                   + '. Is it a checkpoint of the same backbone (depth, width)?')
    loaded = {k: v for k, v in sub.items() if k in own}
    return dict(loaded=len(loaded), missing=missing, unexpected=unexpected, state=loaded)


@MMENGINE_HOOKS.register_module()
class PretrainedCheckHook(Hook):
    """Make ``init_cfg=dict(type='Pretrained', ...)`` strict for evaluation and transfer runs.

    mmengine loads ``Pretrained`` weights with ``strict=False``: a wrong prefix or a mismatched checkpoint gives a
    warning and a randomly initialised backbone. This hook (registered in mmengine's root HOOKS, so mmpretrain and
    mmdet configs both find it) instead

    * before the run: stops on a placeholder or missing checkpoint, saying how to pass one, and on supervised weights
      (``torchvision://`` and similar) unless ``allow_supervised=True``; remote checkpoints (``https://`` URLs, and
      hub names when allowed) are fetched into torch's hub cache, as mmengine's own ``Pretrained`` init does, and
      checked like local files (a supervised classifier's ``fc.*`` keys are expected not to fit a backbone);
    * after the weights are initialised: checks every ``Pretrained`` module against its checkpoint (keys and shapes
      exactly, values actually loaded), and that the model's keys covered by no checkpoint are exactly those of
      ``new_modules`` (the new head), logging each prefix strip it checked.

    Args:
        new_modules (Sequence[str]): Top-level modules trained from scratch, e.g. ``('head', )`` for a classifier,
            ``('neck', 'rpn_head', 'roi_head')`` for a detector. Defaults to ``('head', )``.
        allow_missing (Sequence[str]): fnmatch patterns of module keys a checkpoint may lack (e.g.
            ``'*num_batches_tracked'``). Defaults to ``()``.
        allow_unexpected (dict[str, Sequence[str]]): Per module name, fnmatch patterns of checkpoint keys that
            module does not hold because another one does (R50-C4: the backbone lacks ``layer4.*``, which the RoI
            shared head loads). Defaults to ``{}``.
        allow_supervised (bool): Accept supervised hub weights (``torchvision://``, ``open-mmlab://``, ...), checked
            like any other checkpoint. Defaults to False.
    """

    priority = 'VERY_HIGH'

    def __init__(self, new_modules: Sequence[str] = ('head', ), allow_missing: Sequence[str] = (),
                 allow_unexpected: Optional[dict] = None, allow_supervised: bool = False) -> None:
        self.new_modules = tuple(new_modules)
        self.allow_missing = tuple(allow_missing)
        self.allow_unexpected = dict(allow_unexpected or {})
        self.allow_supervised = allow_supervised

    @staticmethod
    def _model(runner):
        return runner.model.module if is_model_wrapper(runner.model) else runner.model

    def before_run(self, runner) -> None:
        self.results = []
        if not isinstance(runner.optim_wrapper, BaseOptimWrapper):
            return  # Runner.val / test (only train builds the optimiser before the run): weights come from load_from
        model = self._model(runner)
        inits = pretrained_inits(model)
        if not inits:
            raise PretrainedCheckError('this config trains from a pretrained backbone but no module has '
                                       "init_cfg=dict(type='Pretrained', ...); " + HOW_TO_PASS)
        for name, cfg in inits:
            ckpt = str(cfg.get('checkpoint') or '')
            if not ckpt or PLACEHOLDER in ckpt:
                raise PretrainedCheckError(f'no pretrained checkpoint given for `{name}`: {HOW_TO_PASS}')
            supervised = ckpt.startswith(SUPERVISED_PREFIXES)
            if supervised and not self.allow_supervised:
                raise PretrainedCheckError(
                    f'`{name}` would load supervised weights {ckpt}; SCL benchmarks evaluate self-supervised '
                    f'checkpoints only: {HOW_TO_PASS} (or set allow_supervised=True in PretrainedCheckHook)')
            remote = '://' in ckpt
            if not remote and not osp.isfile(ckpt):
                raise PretrainedCheckError(f'pretrained checkpoint {ckpt} for `{name}` does not exist')
            allow_unexpected = tuple(self.allow_unexpected.get(name, ()))
            if supervised:
                allow_unexpected += SUPERVISED_CLASSIFIER_KEYS  # the hub model's own classifier
            # Keys and shapes are known before the weights are initialised: fail before mmengine loads anything.
            # Remote checkpoints (URLs, hub names) are fetched into torch's hub cache by mmengine, as its own
            # Pretrained init would do, and checked like local ones.
            module = model.get_submodule(name) if name else model
            try:
                result = check_pretrained_keys(module, ckpt, cfg.get('prefix', ''), self.allow_missing,
                                               allow_unexpected)
            except PretrainedCheckError:
                raise
            except Exception as e:  # noqa: BLE001 (download / unpickling errors of a remote checkpoint)
                if not remote:
                    raise
                raise PretrainedCheckError(f'cannot load the pretrained checkpoint {ckpt} for `{name}`: {e!r}. '
                                           'Download it and pass the local file instead') from e
            self.results.append((name, cfg, result))

    def before_train(self, runner) -> None:
        model = self._model(runner)
        covered = set()
        resumed = bool(runner.cfg.get('resume') or runner.cfg.get('load_from'))
        for name, cfg, result in self.results:
            module = model.get_submodule(name) if name else model
            ckpt = cfg['checkpoint']
            if not resumed:  # after --resume / load_from the values legitimately differ from the checkpoint
                own = module.state_dict()
                stale = [k for k, v in result['state'].items() if not torch.equal(own[k].cpu(), v.to(own[k].dtype))]
                if stale:
                    raise PretrainedCheckError(f'{len(stale)} tensors of `{name}` differ from {ckpt} after '
                                               f'initialisation (e.g. {stale[:3]}): the weights were not loaded')
            covered.update(f'{name}.{k}' if name else k for k in result['state'])
            runner.logger.info(f'PretrainedCheckHook: `{name}` <- {ckpt}: {result["loaded"]} tensors, prefix '
                               f'{cfg.get("prefix", "")!r} stripped, every key checked'
                               + (f'; allowed missing: {result["missing"]}' if result['missing'] else ''))
        self.results = []  # free the checkpoint tensors
        keys = [k for k in model.state_dict() if not k.startswith('data_preprocessor.')]
        uncovered = {k for k in keys if k not in covered}
        outside_new = sorted(k for k in uncovered if k.split('.', 1)[0] not in self.new_modules)
        if outside_new:
            raise PretrainedCheckError(
                f'{len(outside_new)} keys outside the new modules {self.new_modules} were initialised by no '
                f'checkpoint, e.g. {outside_new[:8]}: only the new head may start from scratch')
        runner.logger.info(f'PretrainedCheckHook: the {len(uncovered)} keys not from a checkpoint are exactly the '
                           f'new modules\' ({", ".join(self.new_modules)})')
