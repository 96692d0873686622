"""The scene benchmark's report: deltas are SCL - MoCo v2 over the seeds both have, the goal is judged on them."""
import math

import pytest

from conftest import load_script


@pytest.fixture(scope='module')
def sb():
    return load_script('tools/benchmarks/scene_benchmark.py')


def _res(lin, p1, p10, loc):
    return dict(linear_top1=lin, semi_1pct_top1=p1, semi_10pct_top1=p10, det_bbox_mAP=10.0, det_segm_mAP=9.0,
                localisation=loc)


PER_SEED = {
    0: dict(mocov2=_res(30.0, 10.0, 30.0, 1.02), scl=_res(32.0, 14.0, 31.0, 1.30),
            scl_crops_only=_res(31.0, 11.0, 30.0, 1.20)),
    1: dict(mocov2=_res(31.0, 12.0, 29.0, 1.04), scl=_res(31.5, 13.0, 29.0, 1.10)),
}


def test_summary_deltas_and_goal(sb):
    stats, summary = sb.summarise(PER_SEED, ['mocov2', 'scl', 'scl_crops_only'])
    assert summary['seeds'] == 2
    assert summary['delta_linear_top1'] == pytest.approx((2.0 + 0.5) / 2)
    assert summary['delta_1pct_top1'] == pytest.approx((4.0 + 1.0) / 2)
    assert summary['delta_10pct_top1'] == pytest.approx(0.5)
    assert summary['delta_det_map'] == pytest.approx(0.0)
    assert summary['localisation_scl'] == pytest.approx(1.2)
    assert summary['localisation_mocov2'] == pytest.approx(1.03)
    goal = summary['goal']
    assert goal['delta_linear_top1']['met'] and not goal['delta_1pct_top1']['met']
    assert goal['localisation_scl']['met']
    # the ablation ran on one seed only: its statistics say so
    assert stats['scl_crops_only']['linear_top1'] == (31.0, 0.0, 1)
    assert stats['scl']['linear_top1'][1] == pytest.approx(0.5 ** 0.5 / 2)  # sample std (ddof=1)
    # every variant against MoCo v2, paired by seed: differences 2.0 and 0.5 -> mean 1.25, sample std 1.5 / sqrt(2)
    paired = summary['paired_deltas']
    assert set(paired) == {'scl', 'scl_crops_only'}
    assert paired['scl']['delta_linear_top1'] == pytest.approx(dict(mean=1.25, std=1.5 / 2 ** 0.5, n=2))
    assert paired['scl_crops_only']['delta_1pct_top1'] == dict(mean=1.0, std=0.0, n=1)


def test_missing_figures_never_meet_the_goal(sb):
    _, summary = sb.summarise({0: dict(mocov2=dict(linear_top1=30.0), scl=dict(linear_top1=40.0))}, ['mocov2', 'scl'])
    assert summary['goal']['delta_linear_top1']['met']
    assert math.isnan(summary['delta_1pct_top1']) and not summary['goal']['delta_1pct_top1']['met']


def test_markdown_has_table_goal_per_seed_and_notes(sb, tmp_path):
    methods = ['mocov2', 'scl', 'scl_crops_only']
    stats, summary = sb.summarise(PER_SEED, methods)
    meta = dict(preset='cpu', complete=False, command='python tools/benchmarks/scene_benchmark.py --out x',
                machine='x86_64, 2 CPUs', wall_time_s=600.0)
    path = tmp_path / 'results.md'
    sb.write_markdown(str(path), stats, summary, methods, meta, per_seed=PER_SEED, notes='We tried gamma = 2.')
    text = path.read_text()
    assert '**Partial results**' in text
    assert '| linear top-1 % | 30.50 +- 0.71 (n=2) | 31.75 +- 0.35 (n=2) | 31.00 +- 0.00 (n=1) | +1.25 |' in text
    assert '| SCL - MoCo v2, 1 % labels | >= 3.00 | 2.50 | **no** |' in text
    assert '| 1 | SCL | 31.50 | 13.00 | 29.00 | 10.00 | 9.00 | 1.10 |' in text
    assert '| SCL | +1.25 +- 1.06 (n=2) | +2.50 +- 2.12 (n=2) | +0.50 +- 0.71 (n=2) | +0.00 +- 0.00 (n=2) |' in text
    assert text.rstrip().endswith('We tried gamma = 2.')


def test_recorded_command_drops_reporting_flags(sb):
    argv = ['--out', 'x', '--seeds', '3', '--report-only', '--notes', 'n.md', '--notes=m.md', '--preset', 'cpu']
    assert sb.run_args(argv) == ['--out', 'x', '--seeds', '3', '--preset', 'cpu']
