import copy
import os.path as osp

import numpy as np
from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmpretrain.registry import HOOKS

from scl.datasets.transforms import SaliencyCropTransform, iter_transforms
from scl.visualization import load_rgb, render_saliency_figure, sample_crop_pairs


def find_crop_transform(dataset):
    for t in iter_transforms(getattr(dataset, 'pipeline', None)):
        if isinstance(t, SaliencyCropTransform):
            return t
    return None


def evenly_spaced(n, k):
    """Indices of ``min(k, n)`` evenly spaced samples of a data set of ``n``: the images every picture shows."""
    return np.unique(np.linspace(0, n - 1, num=min(k, n)).astype(int))


def render_store_figure(dataset, maps, out_path, num_images=6, num_pairs=3, crop_transform=None, seed=0,
                        suptitle=None):
    """Render ``num_images`` evenly spaced training images with their maps and sampled crop pairs."""
    indices = evenly_spaced(len(dataset), num_images)
    images = [load_rgb(dataset.get_data_info(int(i))['img_path']) for i in indices]
    sal = [np.asarray(maps[int(i)], dtype=np.float32) for i in indices]
    pairs = None
    if crop_transform is not None:
        state = np.random.get_state()
        np.random.seed(seed)
        pairs = [sample_crop_pairs(crop_transform, img, s, num_pairs) for img, s in zip(images, sal)]
        np.random.set_state(state)
    titles = [osp.basename(dataset.get_data_info(int(i))['img_path']) for i in indices]
    return render_saliency_figure(images, sal, out_path, crop_pairs=pairs, titles=titles, suptitle=suptitle)


@HOOKS.register_module()
class SaliencyVisualizationHook(Hook):
    """After training, write ``<work_dir>/saliency/saliency_final.png``: images, their maps and crop pairs.

    Needs :class:`SaliencyStoreHook` (it reads the store that hook attached to the model). Every picture is also sent
    to the runner's visualiser (``runner.visualizer.add_image('saliency', image, step=iteration)``), so it lands in
    every configured backend: ``LocalVisBackend`` writes ``<work_dir>/<timestamp>/vis_data/vis_image/saliency_<n>.png``,
    ``TensorboardVisBackend`` an image summary under the tag ``saliency``, ``WandbVisBackend`` a logged image.

    Args:
        num_images (int): Images shown. Defaults to 6.
        num_pairs (int): Crop pairs sampled per image. Defaults to 3.
        interval (int, optional): Also write ``saliency_iter_<n>.png`` every ``interval`` iterations.
            Defaults to None (only at the end).
        name (str): Image name given to the visualiser backends. Defaults to ``'saliency'``.
    """

    priority = 'LOW'

    def __init__(self, num_images: int = 6, num_pairs: int = 3, interval=None, name: str = 'saliency') -> None:
        if interval is not None and (not isinstance(interval, int) or interval < 1):
            raise ValueError(f'SaliencyVisualizationHook: interval must be a positive integer or None (only at the '
                             f'end), got {interval!r}')
        self.num_images = num_images
        self.num_pairs = num_pairs
        self.interval = interval
        self.name = name
        self._last_step = None

    def _render(self, runner, name, step):
        if not is_main_process():
            return
        model = runner.model.module if hasattr(runner.model, 'module') else runner.model
        store = getattr(model, 'saliency_store', None)
        if store is None:
            runner.logger.warning('SaliencyVisualizationHook: no saliency store (add SaliencyStoreHook); skipped')
            return
        dataset = runner.train_loop.dataloader.dataset
        transform = find_crop_transform(dataset)
        transform = copy.copy(transform) if transform is not None else None
        out = render_store_figure(
            dataset, store.maps, osp.join(runner.work_dir, 'saliency', name), self.num_images, self.num_pairs,
            transform, suptitle=f'saliency store after {runner.iter} iterations')
        runner.logger.info(f'SaliencyVisualizationHook: wrote {out}')
        if step != self._last_step:  # the end of training may coincide with the last periodic picture
            runner.visualizer.add_image(self.name, load_rgb(out), step=step)
            self._last_step = step

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if self.interval and self.every_n_train_iters(runner, self.interval):
            self._render(runner, f'saliency_iter_{runner.iter + 1}.png', runner.iter + 1)

    def after_train(self, runner):
        self._render(runner, 'saliency_final.png', runner.iter)
