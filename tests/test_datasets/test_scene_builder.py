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
    from conftest import load_script
    mod = load_script('tools/dataset_converters/build_scene_dataset.py')
    assert mod.main([str(tmp_path / 'out'), '--fmnist-dir', str(tmp_path / 'none')]) == 2
    assert 'Fashion-MNIST not found' in capsys.readouterr().err


# ------------------------------------------------------------------------------------------------------------------
# data v2: background modes
# ------------------------------------------------------------------------------------------------------------------
def _background_source(mode):
    from scl.datasets.scene_builder import BackgroundSource, find_background_photos, find_textures
    return BackgroundSource(mode, find_background_photos(), find_textures())


def test_textures_is_the_default_and_is_recorded(tmp_path):
    assert SceneConfig().background == 'textures'
    meta = build_scene_dataset(str(tmp_path / 'd'), SMALL)
    assert meta['background_mode'] == 'textures' and meta['config']['background'] == 'textures'
    bg = meta['background']
    assert bg['mode'] == 'textures' and bg['photos'] and all(osp.isfile(p) for p in bg['photos'] + bg['textures'])
    assert set(bg['kinds']) <= {'patches', 'texture', 'field'}
    assert set(bg['streams']) == {'scenes/train', 'scenes/val', 'cls/train', 'cls/test'}
    used = bg['streams']['scenes/train']['used']
    assert sum(used['kinds'].values()) == SMALL.num_train
    assert all(k.split(':')[0] in ('patches', 'texture') for k in used['sources'])
    assert sum(bg['streams']['cls/test']['used']['kinds'].values()) == SMALL.num_cls_test
    assert json.load(open(tmp_path / 'd/meta.json')) == json.loads(json.dumps(meta))
    coco = json.load(open(tmp_path / 'd/scenes/annotations/instances_train.json'))
    assert coco['info']['background_mode'] == 'textures'
    assert all(img['background']['kind'] in bg['kinds'] for img in coco['images'])
    assert all(img['background']['source'] in {osp.basename(p) for p in bg['photos']}
               for img in coco['images'] if img['background']['kind'] == 'patches')


def test_textures_backgrounds_are_distinct():
    import hashlib
    source = _background_source('textures')
    rng = np.random.default_rng(0)
    draws = [source(rng, 64) for _ in range(50)]
    assert len({hashlib.md5(img.tobytes()).hexdigest() for img, _ in draws}) == 50
    assert {recipe['kind'] for _, recipe in draws} == set(source.kinds)
    assert all(img.shape == (64, 64, 3) and img.dtype == np.uint8 for img, _ in draws)


def test_photos_mode_keeps_the_objects_of_the_textures_mode(tmp_path):
    build_scene_dataset(str(tmp_path / 't'), SMALL)
    meta = build_scene_dataset(str(tmp_path / 'p'), SceneConfig(**{**SMALL.__dict__, 'background': 'photos'}))
    assert meta['background_mode'] == 'photos' and meta['background']['mode'] == 'photos'
    assert set(meta['background']['streams']['scenes/val']['used']['kinds']) == {'photo'}
    # Separate object and background streams: the same garments at the same places, on other backgrounds.
    for split in ('train', 'val'):
        t, p = (json.load(open(tmp_path / d / f'scenes/annotations/instances_{split}.json')) for d in 'tp')
        assert t['annotations'] == p['annotations']
        assert all(img['background']['kind'] == 'photo' for img in p['images'])
    assert open(tmp_path / 't/cls/train.txt').read() == open(tmp_path / 'p/cls/train.txt').read()
    assert not filecmp.cmp(tmp_path / 't/scenes/train/000000.png', tmp_path / 'p/scenes/train/000000.png', False)


def test_background_kinds_restrict_the_layers(tmp_path):
    meta = build_scene_dataset(str(tmp_path / 'f'), SceneConfig(**{**SMALL.__dict__, 'background_kinds': ('field', )}))
    assert meta['background']['kinds'] == ['field']
    for split in ('scenes/train', 'scenes/val', 'cls/train', 'cls/test'):
        assert set(meta['background']['streams'][split]['used']['kinds']) == {'field'}
    with pytest.raises(ValueError, match='not available'):
        build_scene_dataset(str(tmp_path / 'x'), SceneConfig(**{**SMALL.__dict__, 'background_kinds': ('lava', )}))


def test_scene_background_pool_shares_backgrounds_and_keeps_the_rest(tmp_path):
    from scl.evaluation import scene_union_masks
    from scl.visualization import load_rgb
    build_scene_dataset(str(tmp_path / 'own'), SMALL)
    meta = build_scene_dataset(str(tmp_path / 'pool'), SceneConfig(**{**SMALL.__dict__, 'scene_background_pool': 2}))
    assert meta['background']['scene_pool'] == 2 and meta['config']['scene_background_pool'] == 2
    for split in ('train', 'val'):
        own, pool = (json.load(open(tmp_path / d / f'scenes/annotations/instances_{split}.json'))
                     for d in ('own', 'pool'))
        assert own['annotations'] == pool['annotations']  # the same garments at the same places
        assert {img['background']['pool_index'] for img in pool['images']} <= {0, 1}
        # outside every object, scenes with the same pool index show the same pixels once their flip is undone
        union = scene_union_masks(tmp_path / 'pool' / f'scenes/annotations/instances_{split}.json')
        first = {}
        for img in pool['images']:
            rgb = load_rgb(str(tmp_path / 'pool' / 'scenes' / split / img['file_name']))
            free = ~union[img['file_name']]
            if img['background']['flipped']:
                rgb, free = rgb[:, ::-1], free[:, ::-1]
            ref, ref_free = first.setdefault(img['background']['pool_index'], (rgb, free))
            np.testing.assert_array_equal(rgb[free & ref_free], ref[free & ref_free])
        assert len(first) == 2 or len(pool['images']) < 4
    # the classification images keep a fresh background each: byte for byte those of the default
    assert tree_equal(str(tmp_path / 'own/cls'), str(tmp_path / 'pool/cls'))
    with pytest.raises(ValueError, match='scene_background_pool'):
        build_scene_dataset(str(tmp_path / 'bad'), SceneConfig(**{**SMALL.__dict__, 'scene_background_pool': -1}))


@pytest.mark.parametrize('grid,patch', [(4, 2), (6, 3), (16, 4), (32, 8)])
def test_shuffled_patches_keep_no_source_region_larger_than_one_patch(grid, patch):
    """Every output tile is a whole source tile, and no two source neighbours stay joined (4-neighbourhood)."""
    from scl.datasets.scene_builder import shuffle_patches, source_neighbours
    side = grid * patch
    tile = np.arange(side) // patch  # the tile row (column) of each pixel row (column)
    img = np.stack([np.repeat(tile[:, None], side, 1), np.repeat(tile[None], side, 0),
                    np.random.default_rng(1).integers(0, 255, (side, side))], -1).astype(np.uint8)
    for seed in range(10):
        out, perm = shuffle_patches(img, patch, np.random.default_rng(seed))
        tiles = out.reshape(grid, patch, grid, patch, 3).transpose(0, 2, 1, 3, 4)
        # read each output tile's source position from its pixels, not from the returned permutation
        src_r, src_c = tiles[:, :, 0, 0, 0].astype(int), tiles[:, :, 0, 0, 1].astype(int)
        src = src_r * grid + src_c
        np.testing.assert_array_equal(src, perm)
        assert sorted(src.ravel()) == list(range(grid * grid))
        for r in range(grid):
            for c in range(grid):
                np.testing.assert_array_equal(tiles[r, c], img[src_r[r, c] * patch:(src_r[r, c] + 1) * patch,
                                                                src_c[r, c] * patch:(src_c[r, c] + 1) * patch])
        assert not source_neighbours(src, grid).any()


def test_patch_sides_are_bounded_by_the_fraction():
    source = _background_source('textures')
    assert source.patch_sizes(128) == (4, 8) and source.patch_sizes(32) == (2, 2)
    rng = np.random.default_rng(0)
    patches = [recipe['patch'] for _, recipe in (source(rng, 128) for _ in range(60)) if recipe['kind'] == 'patches']
    assert patches and all(4 <= p <= 8 for p in patches)


def test_shuffle_patches_rejects_partial_tiles():
    from scl.datasets.scene_builder import shuffle_patches
    with pytest.raises(ValueError, match='at least 4 x 4 whole tiles'):
        shuffle_patches(np.zeros((30, 32, 3), np.uint8), 8, np.random.default_rng(0))


def test_unknown_background_mode_is_a_clear_error(tmp_path):
    from scl.datasets.scene_builder import BackgroundSource
    with pytest.raises(ValueError, match=r"unknown background mode 'grass'.*textures, photos"):
        build_scene_dataset(str(tmp_path / 'x'), SceneConfig(**{**SMALL.__dict__, 'background': 'grass'}))
    assert not osp.exists(tmp_path / 'x')  # checked before anything is written
    with pytest.raises(ValueError, match='unknown background mode'):
        BackgroundSource('grass', [])


def test_objects_are_larger_and_varied_by_default():
    from scl.datasets.scene_builder import _place_boxes
    cfg = SceneConfig()
    rng = np.random.default_rng(0)
    boxes = [_place_boxes(rng, cfg) for _ in range(200)]
    sizes = np.array([b[2] for scene in boxes for b in scene])
    assert sizes.min() >= cfg.min_object_size and sizes.max() <= cfg.max_object_size
    assert np.percentile(sizes, 10) < 36 and np.percentile(sizes, 90) > 50  # spread over the range
    assert min(len(scene) for scene in boxes) >= cfg.min_objects


def test_meta_records_a_content_fingerprint_and_the_builder_version(tmp_path):
    import json

    from scl.datasets.scene_builder import BUILDER_VERSION, data_fingerprint
    build_scene_dataset(str(tmp_path / 'a'), SMALL)
    meta = json.load(open(tmp_path / 'a' / 'meta.json'))
    assert meta['builder_version'] == BUILDER_VERSION
    assert meta['fingerprint'] == data_fingerprint(str(tmp_path / 'a')) and len(meta['fingerprint']) == 64
    png = tmp_path / 'a' / 'scenes' / 'train' / '000000.png'
    png.write_bytes(png.read_bytes()[:-1] + b'\0')  # one byte of one file
    assert data_fingerprint(str(tmp_path / 'a')) != meta['fingerprint']


def test_without_scikit_image_the_builder_says_what_to_install(tmp_path, monkeypatch):
    import sys

    from scl.datasets.scene_builder import DataSourceError
    from scl.utils.errors import UserError
    monkeypatch.setitem(sys.modules, 'skimage', None)  # import skimage fails, as when it is not installed
    with pytest.raises(DataSourceError, match='pip install scikit-image') as e:
        build_scene_dataset(str(tmp_path / 'a'), SMALL)
    assert isinstance(e.value, UserError)
    assert not (tmp_path / 'a' / 'meta.json').exists()  # no other data under the same name
