"""Per-view augmentation at the cost of small views: mmpretrain's ``ColorJitter`` (Pillow backend), mmcv's
``RandomGrayscale`` and ``RandomFlip``, bit for bit with the same random draws."""
from typing import Dict, Optional

import cv2
import numpy as np
from mmcv.transforms import RandomFlip, RandomGrayscale
from mmcv.transforms.utils import cache_randomness
from mmpretrain.datasets.transforms import ColorJitter
from mmpretrain.registry import TRANSFORMS
from PIL import Image

# The hue shift as Pillow's band LUT: ``h + shift`` with uint8 wrap-around (mmcv adds ``np.uint8(hue * 255)``).
_RAMP = np.arange(256, dtype=np.uint8)


@TRANSFORMS.register_module()
class FusedColorJitter(ColorJitter):
    """mmpretrain's :class:`ColorJitter` with its Pillow backend, fused: the same random draws and the same output
    bits, at about half the cost on 64 px views.

    mmpretrain applies each of the four adjustments through mmcv, which turns the BGR array into a Pillow image and
    back for every one of them (``adjust_brightness``, ``adjust_contrast``, ``adjust_color``, ``adjust_hue``), and
    Pillow's ``ImageEnhance.Contrast`` takes the grey mean from a histogram summed in Python. Here the image goes to
    Pillow once, the adjustments run there in the drawn order with the same Pillow operations (``Image.blend``
    against the same degenerate images; the grey mean is the same integer, summed by numpy; the hue shift is a band
    LUT doing mmcv's uint8 wrap-around), and comes back once, through bytes (faster than numpy's array interface). The equality with mmpretrain's transform is tested on
    random and smooth images, every order and every parameter range (tests/test_datasets/test_color.py).

    Only ``backend='pillow'`` (mmpretrain's default) is fused; ``'cv2'`` runs mmpretrain's transform unchanged.

    **Required Keys:** img (uint8, BGR). **Modified Keys:** img.

    Args:
        Those of mmpretrain's ``ColorJitter``.
    """

    def transform(self, results: Dict) -> Dict:
        if self.backend != 'pillow':
            return super().transform(results)
        img = results['img']
        if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
            raise TypeError(f'FusedColorJitter expects a uint8 BGR image (H, W, 3), got {img.dtype} {img.shape}')
        order, brightness, contrast, saturation, hue = self._rand_params()
        h, w = img.shape[:2]
        pil = Image.frombytes('RGB', (w, h), cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_BGR2RGB).tobytes())
        for index in order:
            if index == 0 and brightness is not None:
                pil = Image.blend(Image.new('RGB', pil.size, 0), pil, brightness)
            elif index == 1 and contrast is not None:
                grey = np.asarray(pil.convert('L'))
                mean = int(int(grey.sum(dtype=np.int64)) / grey.size + 0.5)  # ImageStat's mean, rounded as Pillow
                pil = Image.blend(Image.new('L', pil.size, mean).convert('RGB'), pil, contrast)
            elif index == 2 and saturation is not None:
                pil = Image.blend(pil.convert('L').convert('RGB'), pil, saturation)
            elif index == 3 and hue is not None:
                hue_band, sat_band, val_band = pil.convert('HSV').split()
                with np.errstate(over='ignore'):
                    lut = _RAMP + np.uint8(hue * 255)
                pil = Image.merge('HSV', (hue_band.point(lut.tolist()), sat_band, val_band)).convert('RGB')
        results['img'] = cv2.cvtColor(np.frombuffer(pil.tobytes(), np.uint8).reshape(h, w, 3), cv2.COLOR_RGB2BGR)
        return results


@TRANSFORMS.register_module()
class FusedRandomGrayscale(RandomGrayscale):
    """mmcv's :class:`RandomGrayscale`, the same random draw and the same output bits, at a fraction of its cost.

    mmcv weighs the channels with a float64 broadcast and a sum over the last axis of length 3, a reduction numpy runs
    pixel by pixel (0.4 ms on a 64 x 64 view, 4 ms on 224 x 224). Here each channel's products ``w_c * v`` come from
    a 256-entry table of the same float64 products and are added in the same order (channel 0, 1, 2), so the grey
    level, truncated to uint8 as mmcv does, is the same number. Images other than 3-channel uint8 (and
    ``color_format='hsv'``) go through mmcv's transform unchanged; equality is tested on random images, every grey
    level and every argument (tests/test_datasets/test_transforms/test_grey_flip.py).

    **Required Keys:** img. **Modified Keys:** img.

    Args:
        Those of mmcv's ``RandomGrayscale``.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        weights = np.array(self.channel_weights) / sum(self.channel_weights)  # mmcv's normalisation, float64
        self._tables = (weights[None, :] * np.arange(256, dtype=np.uint8)[:, None]).T.copy()  # (C, 256)

    def transform(self, results: Dict) -> Dict:
        img = results['img']
        if (self.color_format == 'hsv' or img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3
                or len(self.channel_weights) != 3):
            return super().transform(results)
        if self._random_prob() < self.prob:
            grey = self._tables[0][img[..., 0]]
            grey += self._tables[1][img[..., 1]]
            grey += self._tables[2][img[..., 2]]
            grey = grey.astype(np.uint8)
            results['img'] = np.repeat(grey[:, :, None], 3, axis=2) if self.keep_channels else grey
        else:
            results['img'] = img.copy()  # mmcv's astype('uint8') copies
        return results


@TRANSFORMS.register_module()
class FusedRandomFlip(RandomFlip):
    """mmcv's :class:`RandomFlip`, the same random draw and the same output, without ``np.random.choice``'s per-call
    validation of an object array (most of the 0.05 ms a call on small views).

    mmcv draws the direction with ``np.random.choice(directions + [None], p=probs)``, which takes one
    ``random_sample()`` from numpy's global stream and returns the first entry whose normalised cumulative probability
    exceeds it. The cumulative probabilities are computed here once, with the same operations, and each call takes the
    same one number; the flip itself is mmcv's. Tested against mmcv's for every direction and probability form.

    **Required Keys:** img. **Modified Keys:** img (and mmcv's other flipped keys). **Added Keys:** flip,
    flip_direction.

    Args:
        Those of mmcv's ``RandomFlip``.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if isinstance(self.direction, str):
            directions = [self.direction, None]
        else:
            directions = list(self.direction) + [None]
        if isinstance(self.prob, list):  # mmcv's __init__ took a float or a list of floats
            probs = self.prob + [1 - sum(self.prob)]
        else:
            probs = [self.prob / (len(directions) - 1)] * (len(directions) - 1) + [1. - self.prob]
        cdf = np.asarray(probs, dtype=np.float64).cumsum()  # numpy's choice: cumsum, then divide by the last
        cdf /= cdf[-1]
        self._directions, self._cdf = directions, cdf

    @cache_randomness
    def _choose_direction(self) -> Optional[str]:
        return self._directions[int(self._cdf.searchsorted(np.random.random_sample(), side='right'))]
