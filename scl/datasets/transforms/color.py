"""Colour augmentation at the cost of small views: mmpretrain's ``ColorJitter`` (Pillow backend), bit for bit."""
from typing import Dict

import cv2
import numpy as np
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

