import pytest
import os

from scl.utils.dist_traffic import measure_step_traffic, step_traffic


@pytest.mark.slow
def test_counted_traffic_of_two_gloo_ranks_equals_the_computation():
    results = measure_step_traffic(('mocov2', 'scl'), world=2, batch=4, view_size=32, port=29700 + os.getpid() % 200)
    for method, result in results.items():
        assert result['measured'] == [result['expected']] * 2, (method, result)
    assert results['scl']['expected'] > results['mocov2']['expected']


def test_scl_adds_at_most_one_percent_at_resnet50_224px_8x32():
    shapes = dict(batch=32, view_size=224, world=8, feat_dim=128, map_hw=(7, 7), grid_size=16)
    moco, scl = step_traffic('mocov2', **shapes)['total'], step_traffic('scl', **shapes)['total']
    assert scl / moco <= 1.01
    # What un-shuffling the whole 2048 x 7 x 7 key feature map (the old path) would have added: about 2/3 more.
    assert 2 * 8 * 32 * 2048 * 49 * 4 / moco > 0.6
