"""A sampler whose samples know where they fall in the run, so that their random numbers and the warm-up decision
depend on that and on nothing else (not on loader workers, timing, or what another arm drew before them)."""
import random
import zlib
from typing import Iterator, Tuple

import numpy as np
from mmengine.dataset import InfiniteSampler
from mmpretrain.registry import DATA_SAMPLERS

SampleKey = Tuple[int, int, int]  # (seed, dataset index, position in this rank's sample stream)


@DATA_SAMPLERS.register_module()
class KeyedInfiniteSampler(InfiniteSampler):
    """mmengine's ``InfiniteSampler`` (same order for the same seed) that yields ``(index, position, seed)`` keys.

    ``position`` counts the samples this rank has drawn (0, 1, 2, ...), so sample ``position`` belongs to iteration
    ``position // batch_size``, whatever the number of loader workers. A resumed run replays the sampler to its
    iteration (mmengine's ``IterBasedTrainLoop`` does), so positions match the uninterrupted run. Datasets that read
    keys (:class:`~scl.datasets.SceneImageDataset`) seed the pipeline's random streams from them
    (:func:`seed_streams`).
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._position = 0

    def __iter__(self) -> Iterator[Tuple[int, int, int]]:
        for index in self.indices:
            position = self._position
            self._position += 1  # before the yield: an abandoned iterator has used its position
            yield index, position, self.seed


def stream_seed(key: SampleKey, purpose: str) -> int:
    """A 32-bit seed for one purpose (``'pipeline'``, ``'crop'``, ``'view0'``, ...) of one sample visit."""
    seed, index, position = key
    seq = np.random.SeedSequence([int(seed) & 0xFFFFFFFF, int(index), int(position), zlib.crc32(purpose.encode())])
    return int(seq.generate_state(1)[0])


def seed_streams(key: SampleKey, purpose: str) -> None:
    """Seed numpy's and Python's global random streams (what mmcv's and mmpretrain's transforms draw from) for one
    purpose of one sample visit: two arms that key the same stage the same way draw the same numbers there, however
    many numbers other stages drew."""
    s = stream_seed(key, purpose)
    np.random.seed(s)
    random.seed(s)
