"""Scene data v3 search (scl.benchmarks.scene.data_search, tools/benchmarks/scene_data_search.py)."""
import json

import pytest
from mmengine.config import Config, DictAction

import scl  # noqa: F401
from scl.benchmarks.scene import arms as A
from scl.benchmarks.scene import data_search as S
from conftest import load_script


@pytest.mark.parametrize('arm', S.PILOT_ARMS)
def test_scale_overrides_reach_the_crop_of_each_arm(arm):
    cfg = Config.fromfile(A.config_path(arm))
    parsed = {}  # parsed the way tools/train.py's --cfg-options parses them
    for opt in S.pilot_arm(arm, 'c256_o1-2_28-48_s08').overrides:
        key, value = opt.split('=', 1)
        parsed[key] = DictAction._parse_iterable(value)
    cfg.merge_from_dict(parsed)
    pipeline = cfg.train_dataloader.dataset.pipeline
    if A.ARMS[arm].config == 'mocov2':
        crop = pipeline[1].transforms[0][0]
        assert crop.type == 'RandomResizedCrop' and tuple(crop.crop_ratio_range) == (0.08, 1.0)
    else:
        crop = pipeline[1]
        assert crop.type == 'SaliencyCropTransform' and tuple(crop.scale) == (0.08, 1.0)
        assert cfg.model.saliency_source == ('oracle' if arm == 'oracle_crops_only' else 'gradcam')


def records(gains, moco_gap=12.0, seeds=2):
    out = {}
    for name, gain in gains.items():
        val = {}
        for s in range(seeds):
            g = gain[s] if isinstance(gain, list) else gain
            val[str(s)] = dict(random_init=dict(linear_top1=50.0, top1_1pct=30.0),
                               mocov2=dict(linear_top1=50.0 + moco_gap, top1_1pct=40.0),
                               shared_point_control=dict(linear_top1=60.0, top1_1pct=40.0),
                               oracle_crops_only=dict(linear_top1=60.0 + g, top1_1pct=40.0))
        out[name] = dict(settings=dict(canvas=128), val=val)
    return out


def test_chooses_the_largest_gain_that_meets_every_criterion():
    res = S.summarise(records({'small': 1.5, 'large': 3.0, 'largest_one_seed_negative': [7.0, -0.5]}))
    assert res['chosen']['name'] == 'large'
    assert res['chosen']['oracle_minus_shared_val'] == [3.0, 3.0]
    assert res['chosen']['mocov2_minus_random_val'] == [12.0, 12.0]
    assert not res['candidates']['largest_one_seed_negative']['qualifies']
    assert res['best'] == 'large' or res['candidates'][res['best']]['mean_gain'] >= 3.0


def test_chooses_nothing_where_mocov2_is_not_valid_or_seeds_are_too_few():
    assert S.summarise(records({'a': 3.0}, moco_gap=9.0))['chosen'] is None
    res = S.summarise(records({'a': 3.0}, seeds=1))
    assert res['chosen'] is None and res['best'] == 'a'


def test_report_round_trips_through_records_from(tmp_path):
    tool = load_script('tools/benchmarks/scene_data_search.py')
    first = tmp_path / 'a'
    first.mkdir()
    S.save_records(str(first / 'search_records.json'), records({'large': 3.0}))
    assert tool.main(['--out', str(first), 'report']) == 0
    text = (first / 'search.md').read_text()
    assert '**Chosen: large**' in text and '| large | 128 |' in text
    second = tmp_path / 'b'
    assert tool.main(['--out', str(second), 'report', '--records-from', str(first / 'search.json')]) == 0
    assert json.loads((second / 'search.json').read_text())['chosen']['name'] == 'large'


def test_unknown_candidate_and_changed_data_are_clear_errors(tmp_path):
    with pytest.raises(KeyError, match='unknown data candidate'):
        S.candidate('nope')
    small = dict(S.PILOT, num_train=4, num_val=2, num_cls_train=10, num_cls_test=10)
    S.ensure_candidate_data(str(tmp_path / 'd'), 'v2', small)
    with pytest.raises(ValueError, match='other settings .*canvas'):
        S.ensure_candidate_data(str(tmp_path / 'd'), 'c256_o1-2_28-48_s08', small)


def test_pooled_gain_is_the_t_interval_of_every_candidate_seed():
    from scipy import stats
    res = S.summarise(records({'a': [-2.0, 1.0], 'b': [-1.0, 0.0]}))
    d = [-2.0, 1.0, -1.0, 0.0]
    mean, sd = sum(d) / 4, (sum((x + 0.5) ** 2 for x in d) / 3) ** 0.5
    half = stats.t.ppf(0.975, 3) * sd / 2
    p = res['pooled']
    assert p['n'] == 4 and p['mean'] == pytest.approx(mean)
    assert (p['low'], p['high']) == (pytest.approx(mean - half), pytest.approx(mean + half))
    assert p['excludes_min_gain'] == (mean + half < S.MIN_GAIN)
    assert res['candidates']['a']['gain_interval'][0] == pytest.approx(-0.5)
    assert S.summarise(records({'a': 3.0}, seeds=1))['pooled'] is None
    # a candidate on which pretraining ends below random initialisation learned nothing: not pooled, never best
    recs = records({'a': [-2.0, 1.0], 'b': [-1.0, 0.0], 'dead': [5.0, 5.0]})
    for v in recs['dead']['val'].values():
        v['shared_point_control']['linear_top1'] = 40.0
    res = S.summarise(recs)
    assert res['pooled']['n'] == 4 and res['pooled']['left_out'] == ['dead'] and res['best'] == 'a'
    assert not res['candidates']['dead']['learns'] and not res['candidates']['dead']['qualifies']
