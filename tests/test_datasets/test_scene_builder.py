import filecmp
import json
import os
import os.path as osp
import shutil

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from scl.datasets.scene_builder import (FASHION_MNIST_DIR, DataSourceError, SceneConfig, build_scene_dataset,
                                        load_fashion_mnist, paste)

SMALL = SceneConfig(num_train=6, num_val=3, canvas=64, min_object_size=12, max_object_size=24, num_cls_train=20,
                    num_cls_test=10, seed=3)


def tree_equal(a, b):
    cmp = filecmp.dircmp(a, b)
    if cmp.left_only or cmp.right_only or filecmp.cmpfiles(a, b, cmp.common_files, shallow=False)[1]:
        return False
    return all(tree_equal(osp.join(a, d), osp.join(b, d)) for d in cmp.common_dirs)


def test_builder_is_deterministic(tmp_path):
    build_scene_dataset(str(tmp_path / 'a'), SMALL)
    build_scene_dataset(str(tmp_path / 'b'), SMALL)
    assert tree_equal(str(tmp_path / 'a'), str(tmp_path / 'b'))
    build_scene_dataset(str(tmp_path / 'c'), SceneConfig(**{**SMALL.__dict__, 'seed': 4}))
    assert not filecmp.cmp(tmp_path / 'a/scenes/train/000000.png', tmp_path / 'c/scenes/train/000000.png', False)


def test_boxes_and_masks_match_the_pasted_pixels(tiny_data):
    import cv2
    coco = json.load(open(osp.join(tiny_data, 'scenes/annotations/instances_val.json')))
    assert {c['id'] for c in coco['categories']} == set(range(1, 11))
    by_image = {}
    for ann in coco['annotations']:
        by_image.setdefault(ann['image_id'], []).append(ann)
    assert all(2 <= len(v) <= 6 for v in by_image.values())
    for img in coco['images']:
        anns = by_image[img['id']]
        masks = [mask_utils.decode(a['segmentation']).astype(bool) for a in anns]
        assert not np.any(np.sum(masks, axis=0) > 1), 'objects never overlap'
        for a, m in zip(anns, masks):
            ys, xs = np.nonzero(m)
            assert a['bbox'] == [int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1),
                                 int(ys.max() - ys.min() + 1)]
            assert a['area'] == int(m.sum())
        assert cv2.imread(osp.join(tiny_data, 'scenes/val', img['file_name'])).shape == (64, 64, 3)


def test_paste_changes_exactly_the_mask():
    rng = np.random.default_rng(0)
    canvas = rng.integers(0, 255, (20, 20, 3), dtype=np.uint8)
    before = canvas.copy()
    rgb = np.full((5, 5, 3), 7, np.uint8)
    mask = np.zeros((5, 5), bool)
    mask[1:4, 2] = True
    full = paste(canvas, rgb, mask, x=3, y=4)
    assert full.sum() == 3 and full[5:8, 5].all()
    np.testing.assert_array_equal(canvas[~full], before[~full])
    assert (canvas[full] == 7).all()


def test_classification_split_is_balanced_and_labelled(tiny_data):
    lines = open(osp.join(tiny_data, 'cls/train.txt')).read().split()
    labels = [int(x) for x in lines[1::2]]
    assert len(labels) == 60 and np.bincount(labels).tolist() == [6] * 10
    assert osp.isfile(osp.join(tiny_data, 'cls', lines[0]))


def test_missing_fashion_mnist_says_how_to_install(tmp_path):
    with pytest.raises(DataSourceError, match='apt-get install dataset-fashion-mnist'):
        load_fashion_mnist(str(tmp_path))


def test_accepts_a_directory_of_idx_files(tmp_path):
    os.makedirs(tmp_path / 'fm')
    for name in os.listdir(FASHION_MNIST_DIR):
        shutil.copy(osp.join(FASHION_MNIST_DIR, name), tmp_path / 'fm' / name)
    fm = load_fashion_mnist(str(tmp_path / 'fm'))
    assert fm['train_images'].shape == (60000, 28, 28) and fm['test_labels'].shape == (10000, )


def test_truncated_idx_file_is_named(tmp_path):
    import gzip
    os.makedirs(tmp_path / 'fm')
    for name in os.listdir(FASHION_MNIST_DIR):
        shutil.copy(osp.join(FASHION_MNIST_DIR, name), tmp_path / 'fm' / name)
    with gzip.open(tmp_path / 'fm' / 't10k-labels-idx1-ubyte.gz', 'wb') as f:
        f.write(b'\x00\x00\x08\x01\x00\x00\x27\x10\x01\x02')
    with pytest.raises(DataSourceError, match='t10k-labels-idx1-ubyte.gz is truncated'):
        load_fashion_mnist(str(tmp_path / 'fm'))


def test_cli_reports_missing_data_in_one_line(tmp_path, capsys):
    import importlib.util
    from conftest import ROOT
    spec = importlib.util.spec_from_file_location('bsd', osp.join(ROOT, 'tools/dataset_converters/build_scene_dataset.py'))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.main([str(tmp_path / 'out'), '--fmnist-dir', str(tmp_path / 'none')]) == 2
    assert 'Fashion-MNIST not found' in capsys.readouterr().err
