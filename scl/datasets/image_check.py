"""Whether an image file can be read the way mmcv's ``LoadImageFromFile`` reads it."""
from typing import Optional

import mmcv
from mmengine import fileio

from scl.utils.errors import UserError

VERIFY_HINT = ('list every unreadable image of the data set with `python tools/misc/verify_dataset.py <config>`, '
               'then remove or replace them')


def image_problem(path: str) -> Optional[str]:
    """None when ``path`` decodes as an image (mmengine's file backends, then ``mmcv.imfrombytes`` with the cv2
    decoder, as ``LoadImageFromFile`` does by default); otherwise what went wrong, in words."""
    try:
        img = mmcv.imfrombytes(fileio.get(path), flag='color', backend='cv2')
    except Exception as e:  # noqa: BLE001 (missing file, permission, decoder error: all are "unreadable")
        return f'{type(e).__name__}: {e}'
    if img is None or img.size == 0:
        return 'not decodable as an image (corrupt, truncated or another format)'
    return None


class CorruptImageError(UserError, ValueError):
    """A training image cannot be read; the message names the file and how to find every such file."""
