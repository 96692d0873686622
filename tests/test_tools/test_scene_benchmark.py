"""Scene benchmark v2 (scl.benchmarks.scene and tools/benchmarks/scene_benchmark.py): statistics checked against
scipy computed another way, the arms' isolation, strict loading, and a tiny end-to-end run that resumes."""
import glob
import json
import os
import os.path as osp

import numpy as np
import pytest
import torch
from scipy import stats

from conftest import load_script, same_view_augmentation
from scl.benchmarks.scene import arms as A
from scl.benchmarks.scene import report as R
from scl.benchmarks.scene import runs


def test_paired_interval_matches_scipy_and_a_hand_value():
    from scipy import stats
    a, b = [31.0, 33.0, 35.5, 30.0], [30.0, 31.0, 32.0, 30.5]
    iv = R.paired_interval(a, b)
    d = np.subtract(a, b)
    low, high = stats.t.interval(0.95, len(d) - 1, loc=d.mean(), scale=stats.sem(d))
    assert iv['mean'] == pytest.approx(d.mean()) and (iv['low'], iv['high']) == pytest.approx((low, high))
    # differences 1, 2, 3: mean 2, sd 1, t(0.975, 2) = 4.3027 -> 2 -+ 4.3027 / sqrt(3)
    iv = R.paired_interval([2.0, 4.0, 6.0], [1.0, 2.0, 3.0])
    assert (iv['low'], iv['high']) == pytest.approx((2 - 2.48414, 2 + 2.48414), abs=1e-4)
    assert not R.excludes_zero(iv) and R.excludes_zero(R.paired_interval([2.0, 2.5, 3.0], [0.0, 0.0, 0.0]))
    one = R.paired_interval([5.0], [1.0])  # one seed: no interval
    assert one['mean'] == 4.0 and one['low'] is None and one['high'] is None and not R.excludes_zero(one)


def test_validity_needs_both_margins():
    v = R.validity(dict(linear_top1=[60.0, 58.0], top1_1pct=[40.0, 38.0]),
                   dict(linear_top1=[45.0, 44.0], top1_1pct=[36.0, 35.0]))
    assert v['linear_top1']['met'] and v['linear_top1']['gap'] == pytest.approx(14.5)
    assert not v['top1_1pct']['met'] and not v['valid']


def _rec(lin, p1, p10, loc=None, **kw):
    return dict(linear_top1=lin, top1_1pct=p1, top1_10pct=p10, **({} if loc is None else dict(localisation=loc)),
                **kw)


RECORDS = {'textures': {
    '0': dict(centre_prior=1.3, random_init=_rec(44.0, 25.0, 35.0), supervised=_rec(70.0, 60.0, 65.0),
              mocov2=_rec(56.0, 37.0, 48.0, 1.10), scl=_rec(59.0, 42.0, 50.0, 1.60, localisation_store=1.4),
              scl_crops_only=_rec(55.0, 36.0, 47.0, 1.2)),
    '1': dict(centre_prior=1.3, random_init=_rec(45.0, 26.0, 36.0), mocov2=_rec(57.0, 38.0, 49.0, 1.12),
              scl=_rec(59.5, 42.5, 50.5, 1.62, localisation_store=1.5)),
    '2': dict(centre_prior=1.3, random_init=_rec(44.5, 25.5, 35.5), mocov2=_rec(56.5, 37.5, 48.5, 1.11),
              scl=_rec(58.5, 41.0, 49.0, 1.58, localisation_store=1.45)),
}}


def test_summary_has_every_field_and_reads_the_goal_from_intervals():
    s = R.summarise(RECORDS, ['mocov2', 'scl', 'scl_crops_only'])
    v1 = {'seeds', 'delta_linear_top1', 'delta_1pct_top1', 'delta_10pct_top1', 'delta_det_map', 'paired_deltas',
          'localisation_scl', 'localisation_mocov2', 'goal'}
    v2 = {'background_mode', 'random_init_linear_top1', 'random_init_1pct_top1', 'supervised_linear_top1',
          'mocov2_linear_top1', 'mocov2_1pct_top1', 'ci95_linear', 'ci95_1pct', 'localisation_centre_prior',
          'benchmark_valid'}
    assert v1 | v2 <= set(s)
    assert s['seeds'] == 3 and s['background_mode'] == 'textures' and s['benchmark_valid']
    assert s['random_init_linear_top1'] == pytest.approx(44.5) and s['supervised_linear_top1'] == 70.0
    assert s['delta_linear_top1'] == pytest.approx(2.5) and s['ci95_linear'][0] > 0
    assert s['goal']['delta_linear_top1']['met'] and s['goal']['delta_1pct_top1']['met']
    assert s['goal']['localisation_scl']['met'] and s['localisation_scl_store'] == pytest.approx(1.45)
    # a one-seed arm has a mean difference but no interval, so it never counts
    crops = s['paired_deltas']['scl_crops_only']['linear_top1']
    assert crops['n'] == 1 and crops['mean'] == -1.0 and crops['high'] is None


def test_an_interval_from_two_seeds_is_never_read_as_a_result():
    recs = json.loads(json.dumps(RECORDS))
    del recs['textures']['2']['scl']
    recs['textures']['1']['scl']['linear_top1'] = 59.9  # differences +3.0, +2.9
    s = R.summarise(recs, ['mocov2', 'scl'])
    iv = s['paired_deltas']['scl']['linear_top1']
    assert iv['n'] == 2 and iv['low'] > 0  # the interval alone would exclude 0
    assert not R.excludes_zero(iv) and not s['goal']['delta_linear_top1']['met']
    assert R._iv(iv).endswith('(2 seeds: too few to read)')


def test_zoo_table_rows_and_verdict():
    s = R.summarise(RECORDS, ['mocov2', 'scl', 'scl_crops_only'])
    labels = {a: A.ARMS[a].label for a in A.ARMS}
    lines = R.zoo_table(RECORDS, s, ['mocov2', 'scl', 'scl_crops_only'], labels)
    rows = {ln.split(' | ')[0][2:]: ln for ln in lines[2:] if ln.startswith('| ')}
    assert list(rows) == ['random initialisation (anchor)', 'MoCo v2', labels['scl'], labels['scl_crops_only'],
                          'supervised (anchor)']
    assert rows['MoCo v2'] == '| MoCo v2 | 56.5 +- 0.5 | 37.5 +- 0.5 | 48.5 +- 0.5 | 1.11 +- 0.01 | 3 |'
    assert rows['supervised (anchor)'].endswith('| 70.0 | 60.0 | 65.0 | - | 1 |')
    assert 'Valid (MoCo v2 >= 10 / 5 points above random initialisation): **yes** (+12.0, +12.0)' in lines[-1]
    assert 'linear +2.50 [' in lines[-1] and '**excludes 0**' in lines[-1]


def test_goal_is_missed_when_the_interval_holds_zero_or_mocov2_is_near_random():
    recs = json.loads(json.dumps(RECORDS))
    recs['textures']['1']['scl']['linear_top1'] = 52.0  # differences +3, -5, +2: mean 0, interval holds 0
    s = R.summarise(recs, ['mocov2', 'scl'])
    assert not s['goal']['delta_linear_top1']['met'] and s['ci95_linear'][0] < 0 < s['ci95_linear'][1]
    for seed in recs['textures'].values():
        seed['mocov2']['top1_1pct'] = seed['random_init']['top1_1pct'] + 2
    assert not R.summarise(recs, ['mocov2', 'scl'])['benchmark_valid']


def test_markdown_states_validity_intervals_and_notes(tmp_path):
    arms = ['mocov2', 'scl', 'scl_crops_only']
    s = R.summarise(RECORDS, arms)
    meta = dict(preset='cpu', complete=False, command='python tools/benchmarks/scene_benchmark.py --out x',
                machine='x86_64, 2 CPUs', wall_time_s=600.0)
    path = tmp_path / 'results.md'
    R.write_markdown(str(path), RECORDS, s, arms, {a: A.ARMS[a].label for a in A.ARMS}, meta, notes='We tried X.')
    text = path.read_text()
    assert text.startswith('# Scene benchmark v2: ') and '**Partial results**' in text
    assert '**The benchmark is valid**' in text
    assert '| linear top-1 % | +12.0 | >= 10 | yes |' in text
    iv = s['paired_deltas']['scl']['linear_top1']
    assert f'| SCL (Grad-CAM saliency) | +2.50 [{iv["low"]:+.2f}, {iv["high"]:+.2f}] **excludes 0** |' in text
    assert '+-1.00 (1 seed: no interval)' not in text and '-1.00 (1 seed: no interval)' in text
    assert text.rstrip().endswith('We tried X.')
    for png in ('results', 'deltas'):
        getattr(R, f'plot_{png}')(str(tmp_path / f'{png}.png'), *(
            (RECORDS, arms, {a: A.ARMS[a].label for a in A.ARMS}) if png == 'results'
            else (s, {a: A.ARMS[a].label for a in A.ARMS})))
        assert (tmp_path / f'{png}.png').stat().st_size > 5000


def _v3_records(oracle_gain=(2.0, 1.5, 2.5)):
    """Three seeds of the v3 arms: the paired MoCo v2, SCL, the oracle's crops, and mmpretrain's MoCo v2 once."""
    recs = {'textures': {}}
    for s, g in enumerate(oracle_gain):
        base = 56.0 + s
        recs['textures'][str(s)] = dict(
            centre_prior=1.3, random_init=_rec(44.0, 25.0, 35.0), mocov2_paired=_rec(base, 37.0 + s, 48.0),
            scl=_rec(base + 0.5 + 0.1 * s, 38.0 + s, 48.5, 1.6), oracle_crops_only=_rec(base + g, 38.0 + s, 49.0))
    recs['textures']['0']['mocov2'] = _rec(55.0, 36.0, 47.0)
    return recs


def test_v3_differences_are_taken_against_the_paired_mocov2_with_both_gates(tmp_path):
    arms = ['mocov2_paired', 'scl', 'oracle_crops_only', 'mocov2']
    s = R.summarise(_v3_records(), arms)
    assert s['baseline'] == 'mocov2_paired' and s['pairing'] == 'common_random_numbers'
    assert s['mocov2_linear_top1'] == pytest.approx(57.0) and s['benchmark_valid']  # the paired arm, 3 seeds
    # arms_vs_mocov2 against a hand computation: the mean of the per-seed differences and their sd
    oracle = s['arms_vs_mocov2']['oracle_crops_only']
    assert oracle['n'] == 3 and oracle['linear'][0] == pytest.approx(2.0)
    assert s['paired_sd']['oracle_crops_only']['linear'] == pytest.approx(np.std([2.0, 1.5, 2.5], ddof=1))
    assert oracle['linear'][1] > 0 and oracle['1pct'] == [pytest.approx(1.0), pytest.approx(1.0), pytest.approx(1.0)]
    assert s['arms_vs_mocov2']['mocov2']['n'] == 1 and s['arms_vs_mocov2']['mocov2']['linear'][2] is None
    assert s['paired_sd']['mocov2']['linear'] is None  # one seed: no spread
    can = s['can_reward_saliency']
    assert can['met'] and can['arm'] == 'oracle_crops_only' and can['measured'] == pytest.approx(2.0)
    # SCL - MoCo v2: +0.5, +0.6, +0.7 linear (half-width 0.25: precise); 1 % +1 every seed (sd 0: precise)
    assert s['precise']['linear_top1']['met'] and s['precise']['linear_top1']['half_width'] == pytest.approx(
        stats.t.ppf(0.975, 2) * 0.1 / np.sqrt(3))
    assert s['precise']['met']
    meta = dict(preset='cpu', complete=True, command='x', machine='x', wall_time_s=60.0)
    R.write_markdown(str(tmp_path / 'r.md'), _v3_records(), s, arms, {a: A.ARMS[a].label for a in A.ARMS}, meta)
    text = (tmp_path / 'r.md').read_text()
    assert text.startswith('# Scene benchmark v3: ') and 'against **mocov2_paired** (pairing: common_random_numbers)' in text
    assert '| can_reward_saliency: oracle_crops_only - MoCo v2, linear top-1 | >= +1, interval excluding 0 | +2.00' in text


def _gate_text(tmp_path, records, arms):
    s = R.summarise(records, arms)
    meta = dict(preset='cpu', complete=False, command='x', machine='x', wall_time_s=60.0)
    R.write_markdown(str(tmp_path / 'r.md'), records, s, arms, {a: A.ARMS[a].label for a in A.ARMS}, meta)
    return s, (tmp_path / 'r.md').read_text()


def test_the_gates_fail_on_a_small_or_uncertain_oracle_gain_and_a_wide_interval(tmp_path):
    s, text = _gate_text(tmp_path, _v3_records(oracle_gain=(3.0, -1.0, 2.0)), ['mocov2_paired', 'scl',
                                                                               'oracle_crops_only'])
    assert not s['can_reward_saliency']['met']  # mean +1.33, but the interval holds 0
    assert '**Even perfect saliency does not beat MoCo v2 here**' in text and 'Not decided yet' not in text
    # two seeds: the gate is not met and the report says it is undecided rather than failed
    two = _v3_records(oracle_gain=(2.0, 2.5))
    s, text = _gate_text(tmp_path, two, ['mocov2_paired', 'oracle_crops_only'])
    assert not s['can_reward_saliency']['met'] and s['can_reward_saliency']['n'] == 2
    assert 'Not decided yet: the oracle gate reads 2 paired seed(s), and needs at least 3.' in text
    assert '**Even perfect saliency' not in text and '(n=2) | not decided (3 seeds needed) |' in text
    # what the missing seed would need: 3 x 1.0 - (2.0 + 2.5) = -1.5
    assert 'the 1 seed(s) still to run would have to average -1.50 (the seeds so far: +2.00, +2.50)' in text
    # one seed: no interval, written as such, and results.json's fields stay strict JSON (null, not Infinity)
    s, text = _gate_text(tmp_path, _v3_records(oracle_gain=(-1.0, )), ['mocov2_paired', 'oracle_crops_only'])
    assert '| -1.00 no interval (n=1) | not decided (3 seeds needed) |' in text
    assert '| - (n=0) | not run (no SCL arm) |' in text  # precise: no SCL arm ran, which is not a failed gate
    assert 'the 2 seed(s) still to run would have to average +2.00 (the seeds so far: -1.00)' in text
    assert s['can_reward_saliency']['ci95'] == [None, None]
    json.dumps([s['can_reward_saliency'], s['arms_vs_mocov2'], s['paired_deltas']], allow_nan=False)
    gate_only = _v3_records(oracle_gain=(-1.0, -1.0))
    for seed in gate_only['textures'].values():
        del seed['scl']
    counts = R.summarise(gate_only, ['mocov2_paired', 'oracle_crops_only'])
    assert counts['seeds'] == 0 and counts['seeds_baseline'] == 2  # no SCL arm ran; MoCo v2 on two seeds
    assert s['supervised_linear_top1'] != s['supervised_linear_top1']  # no anchor: NaN here, null in results.json
    from scl.utils.fileio import finite_json
    assert finite_json(s)['supervised_linear_top1'] is None
    json.dumps(finite_json(s), allow_nan=False)
    assert not R.summarise(_v3_records(oracle_gain=(0.5, 0.6, 0.7)),
                           ['mocov2_paired', 'oracle_crops_only'])['can_reward_saliency']['met']  # excludes 0, < 1
    recs = _v3_records()
    recs['textures']['1']['scl']['linear_top1'] += 3.0  # +0.5, +3.6, +0.7: half-width > 1
    s = R.summarise(recs, ['mocov2_paired', 'scl', 'oracle_crops_only'])
    assert not s['precise']['linear_top1']['met'] and not s['precise']['met']
    # v2's arms: no paired arm, no oracle; the gates say so instead of guessing
    v2 = R.summarise(RECORDS, ['mocov2', 'scl'])
    assert v2['baseline'] == 'mocov2' and v2['pairing'] == 'none' and v2['can_reward_saliency'] is None


def test_each_arm_changes_only_what_its_name_says():
    from mmengine.config import Config
    moco, scl = (Config.fromfile(A.config_path(k)) for k in ('mocov2', 'scl'))
    # the twins: same backbone, neck, optimiser, schedule, data, batch, view augmentation, queue
    for key in ('model.backbone', 'model.neck', 'model.queue_len', 'model.momentum', 'model.head.temperature',
                'optim_wrapper', 'param_scheduler', 'train_cfg', 'train_dataloader.batch_size',
                'train_dataloader.dataset.data_root'):
        get = (lambda c: eval('c.' + key, dict(c=c)))  # noqa: E731
        assert get(moco) == get(scl), key
    assert same_view_augmentation(moco.train_pipeline[1]['transforms'][0][1:]) == same_view_augmentation(
        scl.train_pipeline[2]['transforms'])
    assert scl.train_pipeline[1]['type'] == 'SaliencyCropTransform' and scl.model.saliency_source == 'gradcam'
    assert A.ARMS['mocov2'].overrides == [] and A.ARMS['scl'].overrides == []
    assert A.ARMS['scl_crops_only'].overrides == ['model.head.beta=0']
    assert A.ARMS['scl_weights_only'].overrides == ['train_dataloader.dataset.pipeline.1.anchor=independent']
    assert sorted(A.ARMS['shared_point_control'].overrides) == [
        'model.head.beta=0', 'train_dataloader.dataset.pipeline.1.anchor=uniform']
    assert A.ARMS['scl_activation'].overrides == ['model.saliency_source=activation']
    assert A.ARMS['scl_spectral_residual_crops_only'].overrides == ['model.saliency_source=spectral_residual',
                                                                    'model.head.beta=0']
    from scl.saliency import source_names
    for name, arm in A.ARMS.items():  # every arm's source is one SCLAlgorithm accepts, and the one it overrides to
        assert arm.source in ('', ) + source_names(training=True), name
        assert f'model.saliency_source={arm.source}' in arm.overrides or arm.source in ('', 'gradcam'), name
    opts = runs.pretrain_options('scl_weights_only', '/d', A.PRESETS['cpu'], 2)
    assert opts[-1] == 'train_dataloader.dataset.pipeline.1.anchor=independent' and 'randomness.seed=2' in opts
    assert {'train_cfg.max_iters=4000', 'model.queue_len=256', 'optim_wrapper.optimizer.lr=0.01'} <= set(opts)
    assert 'custom_hooks.2.bank.data_root=/d/cls/' in opts


def test_checkpoints_load_strictly_with_the_config_the_run_dumped(tmp_path):
    import scl  # noqa: F401
    from mmengine.config import Config

    from scl.benchmarks.scene.evaluation import run_model_config
    from scl.utils.checkpoint import load_model
    from scl.utils.errors import ConfigError
    moco = load_model(A.config_path('mocov2'))
    torch.save(dict(state_dict=moco.state_dict()), tmp_path / 'moco.pth')
    narrow = Config.fromfile(A.config_path('mocov2'))
    narrow.model.backbone.base_channels = 16
    with pytest.raises(RuntimeError, match='size mismatch'):
        load_model(narrow, str(tmp_path / 'moco.pth'))
    state = torch.load(tmp_path / 'moco.pth')
    state['state_dict'].pop('queue')
    torch.save(state, tmp_path / 'partial.pth')
    with pytest.raises(RuntimeError, match='Missing key'):
        load_model(A.config_path('mocov2'), str(tmp_path / 'partial.pth'))
    with pytest.raises(FileNotFoundError, match='does not exist'):
        load_model(A.config_path('scl'), str(tmp_path / 'nothing.pth'))
    # a run's work dir holds the config mmengine dumped (every override applied): evaluation builds that model
    wd = tmp_path / 'wd'
    wd.mkdir()
    with pytest.raises(ConfigError, match=r'arm.py .* does not exist'):  # never the arm's config in its place
        run_model_config('configs/arm.py', str(wd))
    narrow.dump(str(wd / 'arm.py'))
    assert run_model_config('configs/arm.py', str(wd)) == str(wd / 'arm.py')


@pytest.fixture
def tiny_preset(monkeypatch):
    preset = dict(num_train=24, num_val=6, num_cls_train=60, num_cls_test=30, pretrain_iters=2, checkpoints=2,
                  batch=4, lr=0.01, queue_len=64, workers=0, probe_size=32, probe_epochs=20, low_shot=(10.0, ),
                  low_shot_draws=1, supervised_iters=2,
                  localisation_scenes=6)
    monkeypatch.setitem(A.PRESETS, 'tiny', preset)
    return preset


@pytest.mark.slow
def test_end_to_end_resumes_and_reports(tiny_data, tiny_preset, tmp_path):
    sb = load_script('tools/benchmarks/scene_benchmark.py')
    out = tmp_path / 'sb'
    argv = ['--out', str(out), '--data', tiny_data, '--preset', 'tiny', '--seeds', '1', '--arms', 'mocov2', 'scl',
            '--threads', '1']
    assert sb.main(argv) == 0
    recs = json.load(open(out / 'records.json'))['records']['textures']['0']
    assert {'random_init', 'mocov2', 'scl', 'supervised', 'centre_prior'} <= set(recs)
    assert recs['scl']['localisation'] == recs['scl']['localisation_gradcam'] and 'localisation_store' in recs['scl']
    assert recs['mocov2']['probe_size'] == 32  # a record of another probe size is evaluated again
    res = json.load(open(out / 'results.json'))
    assert res['summary']['seeds'] == 1 and res['summary']['complete'] and res['meta']['arms'] == ['mocov2', 'scl']
    for f in ('results.md', 'results.png', 'deltas.png', 'curves.png', 'saliency_grid.png'):
        assert (out / f).is_file(), f
    # an interrupted SCL run: its final checkpoint and record are gone, the first checkpoint is left
    final = runs.final_checkpoint(str(out), 0, 'scl', tiny_preset)
    wd = osp.dirname(final)
    os.remove(final)
    with open(osp.join(wd, 'last_checkpoint'), 'w') as f:
        f.write(osp.join(wd, 'iter_1.pth'))
    state = json.load(open(out / 'records.json'))
    del state['records']['textures']['0']['scl']
    json.dump(state, open(out / 'records.json', 'w'))
    moco_ckpt = runs.final_checkpoint(str(out), 0, 'mocov2', tiny_preset)
    stamp = os.stat(moco_ckpt).st_mtime_ns
    assert sb.main(argv) == 0
    log = open(osp.join(runs.run_dir(str(out), 0, 'scl'), 'pretrain.log')).read()
    assert log.count('$ ') == 2 and '--resume --cfg-options' in log and 'resumed epoch: 0, iter: 1' in log
    assert osp.isfile(final) and os.stat(moco_ckpt).st_mtime_ns == stamp  # MoCo v2 was not run again
    assert 'scl' in json.load(open(out / 'records.json'))['records']['textures']['0']
    # another machine, without the checkpoints, continues from the committed results.json and pretrains nothing
    out2 = tmp_path / 'sb2'
    argv2 = ['--out', str(out2), '--data', tiny_data, '--preset', 'tiny', '--seeds', '1', '--arms', 'mocov2', 'scl',
             '--threads', '1', '--records-from', str(out / 'results.json')]
    assert sb.main(argv2) == 0
    assert not (out2 / 'runs').exists()
    assert json.load(open(out2 / 'records.json'))['records'] == json.load(open(out / 'records.json'))['records']
    assert '--records-from' not in json.load(open(out2 / 'results.json'))['meta']['command']


def test_records_from_takes_only_finished_stages_of_the_same_preset_and_probe_size():
    from scl.benchmarks.scene import benchmark as sb, records  # noqa: F401
    cpu = dict(A.PRESETS['cpu'])
    results = dict(meta=dict(preset='cpu', preset_values=dict(cpu, probe_size=32)), per_seed={'0': dict(
        centre_prior=1.3, random_init=_rec(44.0, 25.0, 35.0, probe_size=64),
        supervised=_rec(80.0, 70.0, 75.0, probe_size=64), mocov2=_rec(56.0, 37.0, 48.0, 1.1, probe_size=64),
        scl=_rec(50.0, 30.0, 40.0, 1.1))},  # scl: 32 px, old
        stress={'photos': {'0': dict(centre_prior=1.2, mocov2=_rec(50.0, 30.0, 40.0, 1.0, probe_size=64))}},
        curves={'textures': {'0': dict(mocov2=dict(loss=[[1, 5.0]]), scl=dict(loss=[[1, 6.0]]))}},
        wall_times_s={'textures': {'0': {'mocov2/pretrain': 600.0, 'mocov2/evaluate': 90.0, 'scl/pretrain': 1.0}}})
    results = json.loads(json.dumps(results))  # as read from the file (tuples become lists)
    state = dict(records={'textures': {'0': dict(random_init=_rec(1.0, 1.0, 1.0, probe_size=64))}}, curves={},
                 wall_times_s={})
    taken, left = records.merge_records(state, results, 'cpu', dict(cpu, probe_size=64))
    assert left == {}
    assert sorted(taken) == [('photos', '0', 'mocov2'), ('textures', '0', 'mocov2'), ('textures', '0', 'supervised')]
    assert state['records']['textures']['0']['random_init']['linear_top1'] == 1.0  # what this run has wins
    assert 'scl' not in state['records']['textures']['0'] and state['records']['photos']['0']['centre_prior'] == 1.2
    assert state['curves'] == {'textures': {'0': dict(mocov2=dict(loss=[[1, 5.0]]))}}
    assert state['wall_times_s'] == {'textures': {'0': {'mocov2/pretrain': 600.0, 'mocov2/evaluate': 90.0}}}
    with pytest.raises(ValueError, match="preset 'cpu'.*'gpu'"):
        records.merge_records(state, results, 'gpu', A.PRESETS['gpu'])
    # a longer schedule: the anchors (data and probe only) are taken, the pretrained arms are run again
    state = dict(records={}, curves={}, wall_times_s={})
    longer = dict(cpu, probe_size=64, pretrain_iters=2 * cpu['pretrain_iters'])
    taken, left = records.merge_records(state, results, 'cpu', longer)
    assert taken == [('textures', '0', 'random_init'), ('textures', '0', 'supervised')]
    assert left == {('textures', '0', 'mocov2'): ['pretrain_iters'], ('photos', '0', 'mocov2'): ['pretrain_iters']}
    assert list(state['records']['textures']['0']) == ['random_init', 'centre_prior', 'supervised']
    state = dict(records={}, curves={}, wall_times_s={})  # the supervised anchor's own budget
    longer = dict(cpu, probe_size=64, supervised_iters=2 * cpu['supervised_iters'])
    taken, left = records.merge_records(state, results, 'cpu', longer)
    assert ('textures', '0', 'random_init') in taken and left[('textures', '0', 'supervised')] == ['supervised_iters']
    # other data: nothing is taken
    state = dict(records={}, curves={}, wall_times_s={})
    taken, left = records.merge_records(state, results, 'cpu', dict(cpu, probe_size=64, num_train=500))
    assert taken == [] and left[('textures', '0', 'random_init')] == ['num_train']
    assert state['records'] == {}


def test_the_v3_arm_set_pairs_every_arm_and_runs_mmpretrains_mocov2_on_seed_0_only():
    from scl.benchmarks.scene import benchmark as sb
    args = load_script('tools/benchmarks/scene_benchmark.py').parse_args(['--out', 'x', '--arm-set', 'v3'])
    assert args.arms == A.V3_ARMS and 'mocov2_paired' in args.arms and 'oracle_crops_only' in args.arms
    run = sb.stages(3, args.arms)
    assert [s for _, s, w in run if w == 'mocov2'] == [0]
    assert [s for _, s, w in run if w == 'mocov2_paired'] == [0, 1, 2]
    assert [s for _, s, w in run if w == 'supervised'] == [0] and run[-1] == ('textures', 0, 'supervised')
    # v2 keeps every arm on every seed, and an explicit --arms wins over the set
    assert [s for _, s, w in sb.stages(2, A.DEFAULT_ARMS) if w == 'mocov2'] == [0, 1]
    explicit = load_script('tools/benchmarks/scene_benchmark.py').parse_args(['--out', 'x', '--arms', 'scl'])
    assert explicit.arms == ['scl']


def test_recorded_command_drops_reporting_flags():
    from scl.benchmarks.scene import benchmark as sb, records  # noqa: F401
    argv = ['--out', 'x', '--seeds', '3', '--report-only', '--notes', 'n.md', '--notes=m.md', '--evaluate-only',
            '--records-from', 'r.json']
    assert sb.figure_args(argv) == ['--out', 'x', '--seeds', '3']


def test_data_of_another_preset_is_refused(tiny_data):
    from scl.benchmarks.scene.data import ensure_data
    with pytest.raises(ValueError, match='delete that directory'):
        ensure_data(tiny_data, A.PRESETS['cpu'])


@pytest.mark.parametrize('name', sorted(A.PRESETS))
def test_every_preset_builds_a_runnable_pretraining_config(name):
    """The preset's options merge into both twin configs, and its queue fits its batch (two views per image)."""
    import argparse

    from mmengine.config import Config, DictAction

    from scl.models.selfsup.mocov2 import check_queue_len
    preset = A.PRESETS[name]
    check_queue_len(preset['queue_len'], preset['batch'] * 2)
    parser = argparse.ArgumentParser()
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)  # as tools/train.py parses them
    for arm in ('mocov2', 'scl_weights_only'):
        cfg = Config.fromfile(A.config_path(arm))
        opts = runs.pretrain_options(arm, '/d', preset, 0)
        cfg.merge_from_dict(parser.parse_args(['--cfg-options', *opts]).cfg_options)
        assert cfg.train_cfg.max_iters == preset['pretrain_iters'] and cfg.model.queue_len == preset['queue_len']
        assert cfg.optim_wrapper.optimizer.lr == preset['lr'] and cfg.train_dataloader.batch_size == preset['batch']
        assert cfg.param_scheduler[0].T_max == preset['pretrain_iters']
    assert cfg.train_dataloader.dataset.pipeline[1].anchor == 'independent'


def test_logged_curve_keeps_a_hook_metric_once_per_run_and_the_resumed_records(tmp_path):
    first, second = tmp_path / '20260101_000000' / 'vis_data', tmp_path / '20260101_010000' / 'vis_data'
    for d, recs in ((first, [(50, 5.0, None), (100, 4.8, 20.0), (150, 4.7, 20.0)]),
                    (second, [(150, 4.6, 20.0), (200, 4.5, 22.0), (250, 4.4, 22.0)])):
        d.mkdir(parents=True)
        with open(d / 'scalars.json', 'w') as f:
            for it, loss, knn in recs:
                f.write(json.dumps(dict(iter=it, loss=loss, time=0.3, **({} if knn is None else {'knn/top1': knn})))
                        + '\n')
    curve = runs.logged_curve(str(tmp_path))
    assert curve['loss'] == [(50, 5.0), (100, 4.8), (150, 4.6), (200, 4.5), (250, 4.4)]  # the resumed run wins
    assert curve['knn/top1'] == [(100, 20.0), (200, 22.0)]
    assert runs.compute_seconds(str(tmp_path)) == pytest.approx(0.3 * 250)


def test_logged_iter_reads_the_last_training_iteration(tmp_path):
    log = tmp_path / 'pretrain.log'
    assert runs.logged_iter(str(log)) == 0  # no file yet
    log.write_text('$ python tools/train.py ...\n'
                   '12/03 11:28:06 - mmengine - INFO - Iter(train) [  50/4000]  lr: 8.4e-03  loss: 4.55\n'
                   '12/03 11:29:06 - mmengine - INFO - Iter(train) [1050/4000]  lr: 8.3e-03  loss: 4.50\n'
                   '12/03 11:29:07 - mmengine - INFO - Saving checkpoint at 1050 iterations\n')
    assert runs.logged_iter(str(log)) == 1050
    assert runs.logged_iter(str(log), start=log.read_text().index('12/03 11:29:06')) == 1050
    assert runs.logged_iter(str(log), start=len(log.read_bytes())) == 0


@pytest.mark.slow
def test_side_by_side_pretrains_every_run_and_a_failure_spares_the_others(tiny_data, tiny_preset, tmp_path):
    out = str(tmp_path / 'sb')
    datas = dict(textures=tiny_data, photos=str(tmp_path / 'missing'))
    finals = runs.pretrain_side_by_side(out, [('textures', 0, 'mocov2'), ('textures', 1, 'mocov2')], datas,
                                        tiny_preset, jobs=2, threads=1, poll_s=0.2)
    assert finals == [runs.final_checkpoint(out, s, 'mocov2', tiny_preset) for s in (0, 1)]
    for s in (0, 1):
        assert osp.isfile(finals[s])
        log = osp.join(runs.run_dir(out, s, 'mocov2'), 'pretrain.log')
        assert open(log).read().startswith('$ OMP_NUM_THREADS=1 ')
        assert runs.logged_iter(log) == tiny_preset['pretrain_iters']
    # one run without its data fails; the other still finishes, then the failure is raised with its log's tail
    with pytest.raises(RuntimeError, match='pretraining failed'):
        runs.pretrain_side_by_side(out, [('photos', 0, 'mocov2'), ('textures', 2, 'mocov2')], datas, tiny_preset,
                                   jobs=2, threads=1, poll_s=0.2)
    assert osp.isfile(runs.final_checkpoint(out, 2, 'mocov2', tiny_preset))


def test_side_by_side_runs_share_the_cpus_and_every_run_of_an_invocation_gets_the_same_threads():
    assert runs.shared_threads(jobs=1, cpus=2) == 2
    assert runs.shared_threads(jobs=2, cpus=2) == 1
    assert runs.shared_threads(jobs=3, cpus=16) == 5
    assert runs.shared_threads(jobs=4, cpus=2) == 1
    from scl.benchmarks.scene.benchmark import default_jobs
    assert default_jobs('cpu', cpus=2) == 2 and default_jobs('cpu', cpus=64) == 4
    assert default_jobs('gpu', cpus=16) == 1 and default_jobs('smoke', cpus=2) == 1


def test_side_by_side_pretrains_jobs_arms_at_a_time_and_evaluates_each_batch_before_the_next(tiny_data, tiny_preset,
                                                                                           tmp_path, monkeypatch):
    from scl.benchmarks.scene import benchmark as B
    sb = load_script('tools/benchmarks/scene_benchmark.py')
    args = sb.parse_args(['--out', str(tmp_path / 'sb'), '--data', tiny_data, '--preset', 'tiny', '--seeds', '2',
                          '--arms', 'mocov2', 'scl', 'scl_crops_only', '--jobs', '2'])
    bench = B.SceneBenchmark(args)
    events, pretrained, scored = [], set(), set()

    def side_by_side(out, batch, datas, preset, jobs, threads, keys):
        assert jobs == 2 and threads == runs.shared_threads(2) and set(keys) == set(batch)
        events.append(('pretrain', [(s, w) for _, s, w in batch]))
        pretrained.update(batch)

    def run_stage(bg, seed, what):
        assert what not in A.ARMS or (bg, seed, what) in pretrained  # evaluated only once pretrained
        events.append(('score', (seed, what)))
        scored.add((bg, seed, what))

    monkeypatch.setattr(runs, 'pretrain_side_by_side', side_by_side)
    monkeypatch.setattr(bench, 'run_stage', run_stage)
    monkeypatch.setattr(bench, 'unpretrained', lambda bg, s, w: w in A.ARMS and (bg, s, w) not in pretrained)
    monkeypatch.setattr(bench, 'done', lambda bg, s, w: (bg, s, w) in scored)
    monkeypatch.setattr(bench, 'write_report', lambda: None)
    bench.run()
    assert events == [('score', (0, 'random_init')), ('pretrain', [(0, 'mocov2'), (0, 'scl')]),
                      ('score', (0, 'mocov2')), ('score', (0, 'scl')),
                      ('pretrain', [(0, 'scl_crops_only'), (1, 'mocov2')]), ('score', (0, 'scl_crops_only')),
                      ('score', (1, 'random_init')), ('score', (1, 'mocov2')),
                      ('pretrain', [(1, 'scl'), (1, 'scl_crops_only')]), ('score', (1, 'scl')),
                      ('score', (1, 'scl_crops_only')), ('score', (0, 'supervised'))]


def test_invocations_sharing_a_records_file_keep_each_others_stages(tmp_path):
    from scl.benchmarks.scene import benchmark as sb, records  # noqa: F401
    path = str(tmp_path / 'records.json')
    first, second = records.load_records(path), records.load_records(path)  # both started before either finished
    rec = dict(linear_top1=60.0, probe_size=64)
    first['records'].setdefault('textures', {})['0'] = dict(mocov2=rec, centre_prior=1.3)
    first['wall_times_s'].setdefault('textures', {})['0'] = {'mocov2/pretrain': 10.0, 'mocov2/evaluate': 2.0}
    records.sync_records(path, first, {('textures', 0, 'mocov2')})
    second['records'].setdefault('textures', {})['0'] = dict(scl=dict(rec, linear_top1=61.0), centre_prior=1.3)
    second['records'].setdefault('photos', {})['0'] = dict(scl=dict(rec, linear_top1=50.0))
    second['curves'].setdefault('photos', {})['0'] = dict(scl={'loss': [[10, 1.0]]})
    records.sync_records(path, second, {('textures', 0, 'scl'), ('photos', 0, 'scl')})
    on_disk = records.load_records(path)
    assert on_disk == second  # the second invocation sees the first one's stage too
    assert set(on_disk['records']['textures']['0']) == {'mocov2', 'scl', 'centre_prior'}
    assert on_disk['records']['photos']['0']['scl']['linear_top1'] == 50.0
    assert on_disk['wall_times_s']['textures']['0'] == {'mocov2/pretrain': 10.0, 'mocov2/evaluate': 2.0}
    assert on_disk['curves']['photos']['0']['scl'] == {'loss': [[10, 1.0]]}
    # reading without writing: the first invocation picks up the second's stages, the file is untouched
    records.sync_records(path, first, {('textures', 0, 'mocov2')}, write=False)
    assert first == on_disk
    # a stage this invocation did not finish is never written over from its stale memory
    first['records']['textures']['0']['scl'] = dict(rec, linear_top1=0.0)
    records.sync_records(path, first, {('textures', 0, 'mocov2')})
    assert records.load_records(path)['records']['textures']['0']['scl']['linear_top1'] == 61.0


def test_stage_key_follows_config_preset_and_data():
    from scl.benchmarks.scene.records import stage_key
    cpu = A.PRESETS['cpu']
    base = stage_key('scl', cpu, 'data-a')
    assert stage_key('scl', cpu, 'data-a') == base
    assert stage_key('scl', cpu, 'data-b') != base  # other data
    assert stage_key('scl', dict(cpu, pretrain_iters=2000), 'data-a') != base  # another schedule
    assert stage_key('scl_crops_only', cpu, 'data-a') != base  # another config override
    anchor = stage_key('random_init', cpu, 'data-a')
    assert stage_key('random_init', dict(cpu, pretrain_iters=2000), 'data-a') == anchor  # it reads no schedule
    assert stage_key('random_init', cpu, 'data-b') != anchor


def _fake_train(calls):
    """runs.train's stand-in: writes the checkpoints a run of ``train_cfg.max_iters`` would (small, loadable)."""
    def train(config, work_dir, options, log, resume=False, threads=None, progress=None):
        calls.append(resume)
        os.makedirs(work_dir, exist_ok=True)
        n = int(next(o for o in options if o.startswith('train_cfg.max_iters=')).split('=')[1])
        torch.save(dict(state_dict={}, meta=dict(iter=n)), osp.join(work_dir, f'iter_{n}.pth'))
    return train


def test_a_run_counts_only_when_its_checkpoint_loads_and_its_key_matches(tmp_path, monkeypatch):
    preset = dict(A.PRESETS['smoke'])
    calls = []
    monkeypatch.setattr(runs, 'train', _fake_train(calls))
    out = str(tmp_path)
    final = runs.pretrain(out, 0, 'mocov2', 'data', preset, key='k1')
    assert runs.finished(out, 0, 'mocov2', preset, key='k1') and calls == [False]
    assert runs.pretrain(out, 0, 'mocov2', 'data', preset, key='k1') == final and calls == [False]  # reused
    # a run killed while saving its final checkpoint: the file is there but does not load
    wd = osp.dirname(final)
    torch.save(dict(state_dict={}), osp.join(wd, 'iter_6.pth'))
    with open(final, 'r+b') as f:
        f.truncate(10)
    with open(osp.join(wd, 'last_checkpoint'), 'w') as f:
        f.write(final)
    assert not runs.finished(out, 0, 'mocov2', preset, key='k1')
    runs.pretrain(out, 0, 'mocov2', 'data', preset, key='k1')
    assert calls == [False, True]  # resumed, from the newest checkpoint that loads
    assert glob.glob(final + '.broken-*') and runs.checkpoint_loads(final)
    # another config, preset or data (another key): the old run is set aside, never reused
    runs.pretrain(out, 0, 'mocov2', 'data', preset, key='k2')
    assert calls == [False, True, False]
    assert osp.isdir(runs.run_dir(out, 0, 'mocov2') + '.stale-0')


def test_more_runs_side_by_side_than_cores_is_told_with_its_measured_cost(capsys):
    from scl.benchmarks.scene.benchmark import warn_oversubscribed
    assert warn_oversubscribed(jobs=3, n_runs=6, cpus=2)
    text = capsys.readouterr().out
    assert 'three, 2522 s' in text and '--jobs 2 is as fast' in text  # the measured cost, docs/benchmarks.md
    assert not warn_oversubscribed(jobs=3, n_runs=2, cpus=2)  # only two runs left: one per core
    assert not warn_oversubscribed(jobs=2, n_runs=6, cpus=2) and capsys.readouterr().out == ''


def test_a_sequential_pretraining_shows_its_iterations_with_an_eta(tmp_path, capsys):
    """runs.train follows the log of the subprocess (here a tools/train.py that logs like mmengine) with a bar."""
    (tmp_path / 'tools').mkdir()
    (tmp_path / 'tools' / 'train.py').write_text(
        'import time\nfor i in (10, 20, 30):\n'
        '    print(f"Iter(train) [{i:>3}/30]  loss: 1.0", flush=True)\n    time.sleep(0.3)\n')
    log = tmp_path / 'pretrain.log'
    # an earlier run of this arm was interrupted after logging iteration 25 and starts over: the bar follows the new
    # run's lines only
    log.write_text('$ python tools/train.py cfg.py\nIter(train) [ 25/30]  loss: 1.0\n')
    from unittest import mock
    with mock.patch.object(runs, 'repo_root', return_value=str(tmp_path)):
        runs.train('cfg.py', str(tmp_path / 'wd'), [], str(log), progress=('mocov2 seed 0', 30), poll_s=0.1)
    err = capsys.readouterr().err
    assert 'mocov2 seed 0' in err and '30/30' in err and runs.logged_iter(str(log)) == 30
    assert '25/30' not in err


def test_a_data_variant_is_chosen_by_name_recorded_and_keyed(tmp_path):
    """--data-variant builds the data search's candidate at the preset's sizes, records its name in meta.json and
    results, sets both methods' crop scale, and changes every arm's cache key; the default keeps v2's keys."""
    from scl.benchmarks.scene.benchmark import SceneBenchmark
    from scl.benchmarks.scene.data_search import CANDIDATES
    from scl.benchmarks.scene.records import stage_key
    sb = load_script('tools/benchmarks/scene_benchmark.py')
    name = 'c128_o1-2_28-40_s08'
    args = sb.parse_args(['--out', str(tmp_path / 'v'), '--preset', 'smoke', '--data-variant', name])
    args.argv = []
    bench = SceneBenchmark(args)
    meta = json.load(open(tmp_path / 'v' / 'data' / 'meta.json'))
    assert meta['variant'] == name and meta['config']['max_objects'] == CANDIDATES[name]['scene']['max_objects']
    assert bench.preset['data_variant'] == name
    lo, hi = CANDIDATES[name]['scale']
    assert f'train_dataloader.dataset.pipeline.1.scale=({lo},{hi})' in runs.pretrain_options('scl', 'd',
                                                                                             bench.preset, 0)
    assert (f'train_dataloader.dataset.pipeline.1.transforms.0.0.crop_ratio_range=({lo},{hi})'
            in runs.pretrain_options('mocov2', 'd', bench.preset, 0))
    default = dict(A.PRESETS['smoke'])
    assert runs.pretrain_options('scl', 'd', default, 0) == runs.pretrain_options('scl', 'd', dict(default), 0)
    assert not [o for o in runs.pretrain_options('scl', 'd', default, 0) if '.scale=' in o]
    assert stage_key('scl', bench.preset, 'f') != stage_key('scl', default, 'f')
    plain = sb.parse_args(['--out', str(tmp_path / 'v2'), '--preset', 'smoke', '--report-only'])
    assert 'data_variant' not in SceneBenchmark(plain).preset  # v2, the default: the committed keys stay valid


def test_weight_spread_is_the_mean_weight_std_after_the_warm_up_over_seeds(tmp_path):
    from scl.benchmarks.scene import report as R
    curves = {'0': dict(scl=dict(weight_std=[[50, 0.0], [100, 0.0], [150, 0.2], [200, 0.4]]),
                        scl_crops_only=dict(weight_std=[[150, 0.0], [200, 0.0]]), mocov2=dict(loss=[[50, 5.0]])),
              '1': dict(scl=dict(weight_std=[[150, 0.5], [200, 0.5]]))}
    spread = R.weight_spread(curves, ['scl', 'scl_crops_only', 'mocov2'], iters=1000)  # warm-up: 100 iterations
    assert spread['scl']['mean'] == pytest.approx((0.3 + 0.5) / 2) and spread['scl']['n'] == 2
    assert spread['scl_crops_only']['mean'] == 0.0 and 'mocov2' not in spread  # logged no weights
    lines = R._weights(dict(weight_spread=spread), {a: A.ARMS[a].label for a in A.ARMS})
    assert lines[0] == '## Loss weights after the warm-up'
    assert any(line.startswith(f'| {A.ARMS["scl"].label} | 0.400') for line in lines)
    # the step's scalars keep every record; a hook's metric only where it changed
    work = tmp_path / 'vis_data'
    work.mkdir()
    (work / 'scalars.json').write_text('\n'.join(json.dumps(dict(iter=i, loss=5.0, weight_std=0.1, **{'knn/top1': 20.0}))
                                                 for i in (10, 20, 30)) + '\n')
    curve = runs.logged_curve(str(tmp_path), runs.CURVE_KEYS)
    assert len(curve['weight_std']) == 3 and len(curve['loss']) == 3 and curve['knn/top1'] == [(10, 20.0)]
