"""Scene benchmark v2: does saliency help contrastive pretraining on multi-object scenes?

The command is ``tools/benchmarks/scene_benchmark.py``; its parts are importable:

- :mod:`.arms`: presets and the arms (MoCo v2, SCL and the controls that isolate each of its parts);
- :mod:`.data`: the scene data (build_scene_dataset's background modes);
- :mod:`.runs`: pretraining runs through ``tools/train.py``, resumable;
- :mod:`.evaluation`: frozen linear probe, anchors (random initialisation, supervised), saliency localisation;
- :mod:`.report`: paired differences with t-intervals, the validity check, results.json / results.md / plots.
"""
from .arms import ARMS, PRESETS, Arm, repo_root
from .report import paired_interval, validity

__all__ = ['ARMS', 'PRESETS', 'Arm', 'repo_root', 'paired_interval', 'validity']
