"""The same-object rate screen (scl.benchmarks.scene.geometry, tools/analysis_tools/same_object_rate.py) against
rates counted exactly by enumerating every crop position of a hand-made scene."""
import json
import os.path as osp

import numpy as np
import pytest

import scl  # noqa: F401
from scl.benchmarks.scene.geometry import held_fraction, same_object, same_object_rates
from scl.datasets.scene_builder import mask_to_annotation
from conftest import ROOT, load_script

SIDE, OBJ, CROP = 100, 10, 50  # a 100 px scene, one 10 px object in its top-left corner, 50 px crops


@pytest.fixture()
def one_object_scene(tmp_path):
    mask = np.zeros((SIDE, SIDE), bool)
    mask[:OBJ, :OBJ] = True
    ann = dict(mask_to_annotation(mask), id=1, image_id=0, category_id=1)
    coco = dict(images=[dict(id=0, file_name='000000.png', height=SIDE, width=SIDE)], annotations=[ann],
                categories=[dict(id=1, name='thing')])
    path = str(tmp_path / 'instances_train.json')
    with open(path, 'w') as f:
        json.dump(coco, f)
    return path


def holds(x1, y1):
    """Whether the 50 px crop at (x1, y1) holds at least half of the 10 px object: by hand, overlap x overlap."""
    return max(0, OBJ - x1) * max(0, OBJ - y1) >= OBJ * OBJ / 2


def exact_rates():
    positions = range(SIDE - CROP + 1)  # RandomResizedCrop's offsets: 0..50
    single = np.mean([holds(x, y) for x in positions for y in positions])

    def anchored(px, py):  # the positions that contain the anchor pixel, clamped to the image (uniform)
        xs = range(max(0, px - CROP + 1), min(px, SIDE - CROP) + 1)
        ys = range(max(0, py - CROP + 1), min(py, SIDE - CROP) + 1)
        return np.mean([holds(x, y) for x in xs for y in ys])

    uniform = np.mean([anchored(px, py)**2 for px in range(SIDE) for py in range(SIDE)])
    oracle = np.mean([anchored(px, py)**2 for px in range(OBJ) for py in range(OBJ)])  # the object's cell: 10 px
    return dict(independent=single**2, mmpretrain=single**2, uniform=uniform, oracle=oracle)


def test_held_fraction_and_same_object_by_hand():
    objects = np.array([[0, 0, 10, 10], [50, 50, 70, 60]])
    np.testing.assert_allclose(held_fraction(np.array([5, 0, 55, 50]), objects), [0.5, 0.0])
    np.testing.assert_allclose(held_fraction(np.array([0, 0, 60, 100]), objects), [1.0, 0.5])
    assert same_object([[0, 0, 60, 100], [5, 0, 55, 50]], objects)  # both hold half of the first
    assert not same_object([[0, 0, 4, 100], [55, 0, 100, 100]], objects)  # neither holds half of one object
    assert not same_object([[0, 0, 100, 100]] * 2, np.zeros((0, 4)))  # no object, no pair


@pytest.mark.slow
def test_rates_match_an_exact_enumeration(one_object_scene):
    rates = same_object_rates(one_object_scene, scale=(0.25, 0.25), ratio=(1.0, 1.0), pairs=20000, grid_size=10)
    want = exact_rates()
    for kind, p in want.items():
        sd = np.sqrt(p * (1 - p) / 20000)
        assert abs(rates[kind] - p) < 4 * sd + 1e-9, (kind, rates[kind], p)
    assert want['oracle'] > 5 * want['uniform']  # the case is one where the anchor matters
    assert rates['objects_per_scene'] == 1 and rates['object_area_share'] == pytest.approx(0.01)


def test_is_deterministic_and_leaves_the_global_stream(one_object_scene):
    np.random.seed(5)
    before = np.random.random()
    np.random.seed(5)
    a = same_object_rates(one_object_scene, pairs=300)
    assert np.random.random() == before
    assert same_object_rates(one_object_scene, pairs=300) == a


def test_tool_reads_the_config_and_prints(one_object_scene, tmp_path, capsys):
    tool = load_script('tools/analysis_tools/same_object_rate.py')
    out = str(tmp_path / 'rates.json')
    assert tool.main([one_object_scene, '--pairs', '500', '--json', out]) == 0
    printed = capsys.readouterr().out
    assert 'anchor on the true objects (oracle)' in printed and 'oracle - uniform' in printed
    with open(out) as f:
        rates = json.load(f)
    assert rates['scale'] == [0.2, 1.0]  # the SCL benchmark config's crop scale
    assert osp.isfile(osp.join(ROOT, 'tools/analysis_tools/same_object_rate.py'))


def test_tool_draws_scenes_with_their_oracle_map_and_pairs(tiny_data, tmp_path):
    tool = load_script('tools/analysis_tools/same_object_rate.py')
    png = tmp_path / 'pairs.png'
    assert tool.main([tiny_data, '--pairs', '200', '--picture', str(png)]) == 0
    from PIL import Image
    w, h = Image.open(png).size
    assert w == h > 100  # four columns (scene + oracle map, three pair kinds), four scenes
