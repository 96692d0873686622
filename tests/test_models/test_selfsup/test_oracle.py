"""saliency_source='oracle': the scenes' true object cover as the saliency, for the scene benchmark only."""
import json
import os.path as osp
import shutil

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner
from pycocotools import mask as mask_utils

import scl  # noqa: F401
from scl.saliency import SaliencyStore
from conftest import ROOT, shrink_selfsup_cfg
from test_scl import G, fixed_batch, samples, tiny_model

SCL_DEMO = osp.join(ROOT, 'configs/scl/scl_resnet18_1xb32-coslr-300i_demo.py')


def cover_by_pixels(ann_file, name, grid):
    """Reference: each cell's share of object pixels, counted pixel by pixel from the decoded masks."""
    with open(ann_file) as f:
        coco = json.load(f)
    img = next(i for i in coco['images'] if i['file_name'] == name)
    union = np.zeros((img['height'], img['width']), bool)
    for ann in coco['annotations']:
        if ann['image_id'] == img['id']:
            union |= mask_utils.decode(ann['segmentation']).astype(bool)
    h, w = union.shape
    out = np.zeros((grid, grid))
    for r in range(grid):
        for c in range(grid):
            out[r, c] = union[r * h // grid:(r + 1) * h // grid, c * w // grid:(c + 1) * w // grid].mean()
    return out


def oracle_cfg(data, work_dir, iters=3, beta=0.0):
    cfg = shrink_selfsup_cfg(Config.fromfile(SCL_DEMO), data, work_dir, iters=iters)
    cfg.model.saliency_source = 'oracle'
    cfg.model.head.beta = beta
    cfg.custom_hooks = [dict(type='SaliencyStoreHook', grid_size=G, warmup_epochs=0, dtype='float32')]
    return cfg


def test_store_holds_the_masks_cover_and_training_never_changes_it(tiny_data, tmp_path):
    runner = Runner.from_cfg(oracle_cfg(tiny_data, str(tmp_path)))
    runner.train()
    store = runner.model.saliency_store
    dataset = runner.train_dataloader.dataset
    ann = osp.join(tiny_data, 'scenes', 'annotations', 'instances_train.json')
    for i in range(len(dataset)):
        name = osp.basename(dataset.get_data_info(i)['img_path'])
        np.testing.assert_allclose(store.get(i), cover_by_pixels(ann, name, G), atol=1e-6)
    assert store.maps.max() > 0


def test_every_guided_anchor_falls_on_an_object_cell(tiny_data, tmp_path):
    cfg = oracle_cfg(tiny_data, str(tmp_path), iters=1)
    runner = Runner.from_cfg(cfg)
    runner.train()  # creates the oracle store and publishes it to the pipeline; the warm-up is 0 iterations
    dataset = runner.train_dataloader.dataset
    store = runner.model.saliency_store
    assert store.guided
    load, crop = dataset.pipeline.transforms[:2]
    assert type(crop).__name__ == 'SaliencyCropTransform'
    np.random.seed(0)
    for _ in range(3):
        for i in range(len(dataset)):
            r, c = crop(load(dataset.get_data_info(i)))['anchor_cell']  # anchor_cell is not packed: read it here
            assert store.get(i)[r, c] > 0, (i, r, c)


def test_beta_zero_loss_is_the_crops_only_loss_and_the_store_is_not_written(tmp_path):
    batch, data = fixed_batch(), samples()
    losses = {}
    for source in ('oracle', 'gradcam'):
        model = tiny_model(head=dict(type='SaliencyContrastiveHead', loss=dict(type='CrossEntropyLoss'),
                                     temperature=0.2, beta=0.0))
        model.saliency_source = source
        store = SaliencyStore.create(str(tmp_path / source), 4, grid_size=G, init_value=0.25, dtype='float32')
        model.saliency_store = store
        losses[source] = model.loss(batch, data)['loss']
        losses[source].backward()
        model.apply_pending_saliency()
        if source == 'oracle':
            assert (store.maps[:] == 0.25).all()  # never updated by the model
        else:
            assert (store.maps[:] != 0.25).any()  # the model's own source does write
    torch.testing.assert_close(losses['oracle'], losses['gradcam'], rtol=0, atol=0)


def test_data_without_annotations_is_one_clear_error(tiny_data, tmp_path):
    data = str(tmp_path / 'data')
    shutil.copytree(osp.join(tiny_data, 'scenes', 'train'), osp.join(data, 'scenes', 'train'))
    shutil.copytree(osp.join(tiny_data, 'cls'), osp.join(data, 'cls'))
    runner = Runner.from_cfg(oracle_cfg(data, str(tmp_path / 'work')))
    with pytest.raises(FileNotFoundError, match=r"saliency_source='oracle' needs the training scenes' object masks"):
        runner.train()
