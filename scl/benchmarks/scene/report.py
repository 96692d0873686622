"""Statistics and reports of the scene benchmark: paired differences with t-intervals, the validity check,
results.json, results.md and the plots."""
import numpy as np

from scl.benchmarks.scene.evaluation import SOURCES as SALIENCY_SOURCES

# The benchmark can measure only when MoCo v2 is this far above random initialisation.
VALIDITY = dict(linear_top1=10.0, top1_1pct=5.0)
# The question it answers: SCL - MoCo v2 at least this much, with a 95 % interval that excludes 0.
GOAL = dict(linear_top1=1.0, top1_1pct=3.0)
# Whether the data can reward saliency at all: the oracle's crops (the true object cover as the map, beta = 0) minus
# MoCo v2, linear top-1, at least this much with a 95 % interval that excludes 0.
CAN_REWARD = dict(arm='oracle_crops_only', linear_top1=1.0)
# Whether SCL - MoCo v2 is measured precisely enough to read a 1-point effect: the half-widths of its 95 % intervals.
PRECISE = dict(linear_top1=1.0, top1_1pct=1.5)
# The MoCo v2 arm every difference is taken against: the paired arm (SCL's pipeline, the same random numbers as the
# SCL arms) where it ran, else mmpretrain's own twin (benchmark v2, unpaired).
PAIRED_BASELINE = 'mocov2_paired'


def paired_interval(a, b, level=0.95):
    """Mean of the paired differences ``a[i] - b[i]`` and its two-sided t-interval.

    Returns ``dict(mean, low, high, n, diffs)``; with one pair ``low`` and ``high`` are None: one seed gives no
    interval (None is ``null`` in results.json, which an unbounded float would make invalid JSON).
    """
    from scipy import stats
    d = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    if d.ndim != 1 or len(d) == 0:
        raise ValueError(f'need one or more paired values, got shapes {np.shape(a)} and {np.shape(b)}')
    mean = float(d.mean())
    if len(d) < 2:
        low = high = None
    else:
        half = float(stats.t.ppf(0.5 + level / 2, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d)))
        low, high = mean - half, mean + half
    return dict(mean=mean, low=low, high=high, n=int(len(d)), diffs=[float(x) for x in d])


def validity(mocov2, random_init, margins=VALIDITY):
    """Whether MoCo v2 beats random initialisation by the margins (means over seeds), per metric and overall."""
    out = {}
    for k, margin in margins.items():
        gap = float(np.mean(mocov2[k]) - np.mean(random_init[k]))
        out[k] = dict(gap=gap, margin=margin, met=bool(gap >= margin))
    out['valid'] = all(v['met'] for v in out.values())
    return out


METRICS = dict(linear_top1='linear top-1 %', top1_1pct='1 % labels top-1 %', top1_10pct='10 % labels top-1 %')
ANCHORS = ('random_init', 'supervised')
ANCHOR_LABELS = dict(random_init='random initialisation (anchor)', supervised='supervised (anchor)')


def _values(per_seed, arm, key):
    return [per_seed[s][arm][key] for s in sorted(per_seed, key=int)
            if key in per_seed[s].get(arm, {}) and per_seed[s][arm][key] is not None]


def mean_std(vals):
    if not vals:
        return dict(mean=float('nan'), std=float('nan'), n=0)
    return dict(mean=float(np.mean(vals)), std=float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0, n=len(vals))


def paired(per_seed, arm, key, baseline='mocov2'):
    """``paired_interval`` of ``arm - baseline`` over the seeds that have both figures (None without any)."""
    seeds = [s for s in sorted(per_seed, key=int)
             if key in per_seed[s].get(arm, {}) and key in per_seed[s].get(baseline, {})]
    if not seeds:
        return None
    res = paired_interval([per_seed[s][arm][key] for s in seeds], [per_seed[s][baseline][key] for s in seeds])
    res['seeds'] = [int(s) for s in seeds]
    return res


# A paired difference is read only from at least this many seeds; with 2 the t-interval rests on one degree of freedom
# and on whichever seeds happen to have run.
MIN_SEEDS = 3


def excludes_zero(iv):
    """Whether a paired difference counts: its 95 % interval excludes 0 and it pairs at least MIN_SEEDS seeds."""
    return iv is not None and iv['n'] >= MIN_SEEDS and (iv['low'] > 0 or iv['high'] < 0)


def baseline_of(arms):
    """The MoCo v2 arm the differences are taken against: :data:`PAIRED_BASELINE` where it is among ``arms``."""
    return PAIRED_BASELINE if PAIRED_BASELINE in arms else 'mocov2'


def _half_width(iv):
    return None if iv is None or iv['high'] is None else float((iv['high'] - iv['low']) / 2)


def gates(deltas, baseline):
    """``can_reward_saliency`` (the oracle's crops beat MoCo v2 by :data:`CAN_REWARD`, interval excluding 0; None
    without the oracle arm) and ``precise`` (SCL - MoCo v2 within :data:`PRECISE`), from the paired differences."""
    oracle = deltas.get(CAN_REWARD['arm'], {}).get('linear_top1')
    can = None
    if oracle is not None:
        can = dict(arm=CAN_REWARD['arm'], baseline=baseline, target=CAN_REWARD['linear_top1'], measured=oracle['mean'],
                   ci95=[oracle['low'], oracle['high']], n=oracle['n'], diffs=oracle['diffs'],
                   met=bool(oracle['mean'] >= CAN_REWARD['linear_top1'] and excludes_zero(oracle)))
    scl = deltas.get('scl', {})
    precise = {}
    for k, target in PRECISE.items():
        hw = _half_width(scl.get(k))
        precise[k] = dict(half_width=hw, target=target, n=scl[k]['n'] if scl.get(k) else 0,
                          met=bool(hw is not None and hw <= target and scl[k]['n'] >= MIN_SEEDS))
    precise['met'] = all(v['met'] for v in precise.values())
    return can, precise


def arms_vs_baseline(deltas):
    """results.json's ``arms_vs_mocov2`` (``{arm: {linear | 1pct | 10pct: [mean, low, high], n}}``) and
    ``paired_sd`` (``{arm: {linear | 1pct | 10pct: sd of the per-seed differences}}``, None below 2 seeds)."""
    short = dict(linear_top1='linear', top1_1pct='1pct', top1_10pct='10pct')
    table, sd = {}, {}
    for a, d in deltas.items():
        ivs = {short[k]: d.get(k) for k in short}
        if all(iv is None for iv in ivs.values()):
            continue
        table[a] = {k: None if iv is None else [iv['mean'], iv['low'], iv['high']] for k, iv in ivs.items()}
        table[a]['n'] = max(iv['n'] for iv in ivs.values() if iv is not None)
        sd[a] = {short[k]: None if d.get(k) is None or d[k]['n'] < 2 else float(np.std(d[k]['diffs'], ddof=1))
                 for k in short}
    return table, sd


def summarise(records, arms, background='textures', source_goal=1.5):
    """results.json's ``summary`` from ``records[background][seed][arm]`` (arms and the two anchors). Differences
    are taken against :func:`baseline_of` ``(arms)``: the paired MoCo v2 arm where it ran."""
    per_seed = records.get(background, {})
    base = baseline_of(arms)
    m = {k: mean_std(_values(per_seed, base, k)) for k in METRICS}
    r = {k: mean_std(_values(per_seed, 'random_init', k)) for k in METRICS}
    sup = {k: mean_std(_values(per_seed, 'supervised', k)) for k in METRICS}
    both = [s for s in per_seed if 'linear_top1' in per_seed[s].get(base, {})
            and 'linear_top1' in per_seed[s].get('random_init', {})]
    valid = validity({k: _values({s: per_seed[s] for s in both}, base, k) for k in VALIDITY},
                     {k: _values({s: per_seed[s] for s in both}, 'random_init', k) for k in VALIDITY}) if both else None
    deltas = {a: {k: paired(per_seed, a, k, baseline=base) for k in list(METRICS) + ['localisation']}
              for a in arms if a != base}
    scl = deltas.get('scl', {})

    def mean_of(iv):
        return None if iv is None else iv['mean']

    def pair(iv):
        return None if iv is None else [iv['low'], iv['high']]

    loc = {a: mean_std(_values(per_seed, a, 'localisation')) for a in arms}
    centre = [per_seed[s]['centre_prior'] for s in per_seed if 'centre_prior' in per_seed[s]]
    centre = float(np.mean(centre)) if centre else float('nan')
    store = mean_std(_values(per_seed, 'scl', 'localisation_store'))
    summary = dict(
        background_mode=background,
        seeds=len([s for s in per_seed if 'linear_top1' in per_seed[s].get('scl', {})
                   and 'linear_top1' in per_seed[s].get(base, {})]),  # behind SCL - MoCo v2, the headline
        seeds_baseline=len([s for s in per_seed if 'linear_top1' in per_seed[s].get(base, {})]),  # MoCo v2 ran
        random_init_linear_top1=r['linear_top1']['mean'], random_init_1pct_top1=r['top1_1pct']['mean'],
        supervised_linear_top1=sup['linear_top1']['mean'], supervised_1pct_top1=sup['top1_1pct']['mean'],
        mocov2_linear_top1=m['linear_top1']['mean'], mocov2_1pct_top1=m['top1_1pct']['mean'],
        delta_linear_top1=mean_of(scl.get('linear_top1')), delta_1pct_top1=mean_of(scl.get('top1_1pct')),
        delta_10pct_top1=mean_of(scl.get('top1_10pct')), delta_det_map=None,
        ci95_linear=pair(scl.get('linear_top1')), ci95_1pct=pair(scl.get('top1_1pct')),
        localisation_scl=loc.get('scl', {}).get('mean'), localisation_mocov2=loc.get('mocov2', {}).get('mean'),
        localisation_scl_store=store['mean'], localisation_centre_prior=centre,
        benchmark_valid=bool(valid and valid['valid']), validity=valid,
        paired_deltas={a: {k: v for k, v in d.items()} for a, d in deltas.items()},
        baseline=base, pairing='common_random_numbers' if base == PAIRED_BASELINE else 'none',
    )
    summary['arms_vs_mocov2'], summary['paired_sd'] = arms_vs_baseline(deltas)
    summary['can_reward_saliency'], summary['precise'] = gates(deltas, base)
    lin, one = scl.get('linear_top1'), scl.get('top1_1pct')
    summary['goal'] = dict(
        delta_linear_top1=dict(target=GOAL['linear_top1'], measured=summary['delta_linear_top1'], ci95=pair(lin),
                               met=bool(lin and lin['mean'] >= GOAL['linear_top1'] and excludes_zero(lin))),
        delta_1pct_top1=dict(target=GOAL['top1_1pct'], measured=summary['delta_1pct_top1'], ci95=pair(one),
                             met=bool(one and one['mean'] >= GOAL['top1_1pct'] and excludes_zero(one))),
        localisation_scl=dict(target=source_goal, measured=summary['localisation_scl'],
                              met=bool(summary['localisation_scl'] is not None
                                       and summary['localisation_scl'] >= source_goal
                                       and summary['localisation_scl'] > centre)),
    )
    return summary


# SaliencyStoreHook's default warm-up: the first 10 % of the iterations train with unit weights.
WARMUP_FRACTION = 0.1


def weight_spread(curves, arms, iters, warmup=WARMUP_FRACTION):
    """The spread of each arm's loss weights after the warm-up: ``{arm: {'mean', 'std', 'n'}}`` of the per-seed means
    of the logged ``weight_std`` (the std of a batch's per-pair weights) past ``warmup * iters``; arms whose runs
    logged none are left out (runs recorded before the benchmark kept the curve). 0 means uniform weights."""
    per_arm = {}
    for seed in curves.values():
        for a in arms:
            vals = [v for it, v in seed.get(a, {}).get('weight_std', []) if it > warmup * iters]
            if vals:
                per_arm.setdefault(a, []).append(float(np.mean(vals)))
    return {a: mean_std(v) for a, v in per_arm.items()}


def _weights(summary, name):
    spread = summary.get('weight_spread')
    if not spread:
        return []
    return (['## Loss weights after the warm-up', '',
             'Std of the per-pair loss weights within a batch (batch mean 1), mean over the logged iterations after '
             'the first 10 % and over seeds: 0 means uniform weights (crops-only arms, beta = 0).', '',
             '| arm | weight std | seeds |', '| --- | --- | --- |']
            + [f'| {name[a]} | {_fmt(ms, 3)} | {ms["n"]} |' for a, ms in spread.items()] + [''])


def _fmt(ms, digits=1):
    if not ms or not ms['n']:
        return '-'
    return f'{ms["mean"]:.{digits}f} +- {ms["std"]:.{digits}f}' if ms['n'] > 1 else f'{ms["mean"]:.{digits}f}'


def _iv(iv, digits=2):
    if iv is None:
        return '-'
    if iv['n'] < 2:
        return f'{iv["mean"]:+.{digits}f} (1 seed: no interval)'
    mark = (' **excludes 0**' if excludes_zero(iv) else
            f' ({iv["n"]} seeds: too few to read)' if iv['n'] < MIN_SEEDS else '')
    return f'{iv["mean"]:+.{digits}f} [{iv["low"]:+.{digits}f}, {iv["high"]:+.{digits}f}]{mark}'


def probe_sizes(per_seed):
    """The probe sizes the records were made with, e.g. ``'64'`` or ``'32 and 64'`` (records without one: 32 px)."""
    sizes = sorted({r.get('probe_size', 32) for seed in per_seed.values() for r in seed.values() if isinstance(r, dict)
                    and 'linear_top1' in r})
    return ' and '.join(str(x) for x in sizes) or '-'


def table_rows(per_seed, arms):
    """The rows of every table and plot: random initialisation, the arms, supervised; those with a record."""
    return [a for a in ('random_init', ) + tuple(arms) + ('supervised', ) if any(a in v for v in per_seed.values())]


def _header(summary, meta, seeds):
    version = 'v3' if summary.get('pairing') == 'common_random_numbers' else 'v2'  # v3: arms paired with MoCo v2
    return [f'# Scene benchmark {version}: SCL vs MoCo v2 ({len(seeds)} seed(s), preset `{meta["preset"]}`, backgrounds '
            f'`{summary["background_mode"]}`)', '',
            *([] if meta.get('complete') else ['**Partial results**: not every stage has run yet; n gives the '
                                               'seeds behind each figure.', '']),
            f'Command: `{meta["command"]}`  ', f'Machine: {meta["machine"]}. Wall time of the recorded stages: '
            f'{meta["wall_time_s"] / 60:.0f} min.', '']


def _validity(summary):
    v = summary['validity']
    lines = ['## Can the benchmark measure?', '',
             'MoCo v2 has to beat a randomly initialised network of the same architecture by at least '
             f'{VALIDITY["linear_top1"]:g} points of linear top-1 and {VALIDITY["top1_1pct"]:g} at 1 % labels '
             '(means over seeds, paired on the same data and probe), else no method difference is read.', '']
    if not v:
        return lines + ['Not yet measured (MoCo v2 and random initialisation of one seed are needed).', '']
    lines += ['| check | MoCo v2 - random init | needed | met |', '| --- | --- | --- | --- |']
    for k in VALIDITY:
        lines.append(f'| {METRICS[k]} | {v[k]["gap"]:+.1f} | >= {v[k]["margin"]:g} | '
                     f'{"yes" if v[k]["met"] else "**no**"} |')
    return lines + ['', f'**The benchmark is {"valid" if v["valid"] else "NOT valid"}** on this preset.', '']


def _gates(summary):
    """The two questions before any SCL figure is read: can the data reward saliency, and is the difference
    measured precisely enough (benchmark v3)."""
    can, precise = summary.get('can_reward_saliency'), summary.get('precise')
    lines = ['## Can the data reward saliency, and is the answer precise?', '',
             f'Differences are taken against **{summary.get("baseline", "mocov2")}** (pairing: '
             f'{summary.get("pairing", "none")}).', '', '| gate | needed | measured | met |', '| --- | --- | --- | --- |']
    if can is None:
        lines.append(f'| can_reward_saliency: {CAN_REWARD["arm"]} - MoCo v2, linear top-1 | '
                     f'>= +{CAN_REWARD["linear_top1"]:g}, interval excluding 0 | not run | - |')
    else:
        low, high = can['ci95']
        interval = 'no interval' if low is None else f'[{low:+.2f}, {high:+.2f}]'
        met = 'yes' if can['met'] else f'not decided ({MIN_SEEDS} seeds needed)' if can['n'] < MIN_SEEDS else '**no**'
        lines.append(f'| can_reward_saliency: {can["arm"]} - MoCo v2, linear top-1 | >= +{can["target"]:g}, '
                     f'interval excluding 0 | {can["measured"]:+.2f} {interval} (n={can["n"]}) | {met} |')
    for k, target in PRECISE.items():
        p = (precise or {}).get(k) or {}
        hw = p.get('half_width')
        met = 'yes' if p.get('met') else 'not run (no SCL arm)' if not p.get('n') else '**no**'
        lines.append(f'| precise: half-width of SCL - MoCo v2, {METRICS[k]} | <= {target:g} (n >= {MIN_SEEDS}) | '
                     f'{"-" if hw is None else f"+-{hw:.2f}"} (n={p.get("n", 0)}) | {met} |')
    if can is not None and not can['met']:
        if can['n'] < MIN_SEEDS:
            left = MIN_SEEDS - can['n']
            need = (MIN_SEEDS * can['target'] - can['n'] * can['measured']) / left
            lines += ['', f'Not decided yet: the oracle gate reads {can["n"]} paired seed(s), and needs at least '
                      f'{MIN_SEEDS}. To reach +{can["target"]:g} on {MIN_SEEDS} seeds, the {left} seed(s) still to '
                      f'run would have to average {need:+.2f} (the seeds so far: '
                      + ', '.join(f'{d:+.2f}' for d in can['diffs']) + ').']
        else:
            lines += ['', '**Even perfect saliency does not beat MoCo v2 here**: no SCL difference on this data says '
                      'whether saliency helps.']
    return lines + ['']


def label_sizes(meta):
    """(labelled training objects, test objects) from the data's meta.json config (``meta['data']['config']``), or
    the preset's values where the data's are unknown."""
    data = (meta.get('data') or {}).get('config') or {}
    preset = meta.get('preset_values') or {}
    return tuple(data.get(k, preset.get(k)) for k in ('num_cls_train', 'num_cls_test'))


def _arms(per_seed, rows, name, meta):
    from .arms import ARMS
    n_train, n_test = label_sizes(meta)
    lines = ['## Every arm (mean +- std over seeds)', '',
             'Frozen linear probe on the pooled last feature map of the labelled objects resized to '
             f'{probe_sizes(per_seed)} px (logistic regression; all {n_train} of them, '
             f'and class-balanced 1 % / 10 % of them, mean of the draws), test on {n_test}. Localisation: share of '
             "the saliency mass on the objects over their area share (uniform = 1.0) on the held-out scenes, with the "
             "arm's own source (MoCo v2 and the control: the SCL default, Grad-CAM); store: SCL's saliency store on "
             'the pretraining scenes.', '',
             '| arm | crops | loss weights | ' + ' | '.join(METRICS.values())
             + ' | localisation (own source) | localisation (store) | n |',
             '| --- | --- | --- | ' + ' | '.join('---' for _ in METRICS) + ' | --- | --- | --- |']
    for a in rows:
        arm = ARMS.get(a)
        cells = [_fmt(mean_std(_values(per_seed, a, k))) for k in METRICS]
        n = len(_values(per_seed, a, 'linear_top1'))
        lines.append(f'| {name[a]} | {arm.crops if arm else "-"} | {arm.weights if arm else "-"} | '
                     + ' | '.join(cells) + f' | {_fmt(mean_std(_values(per_seed, a, "localisation")), 3)} | '
                     f'{_fmt(mean_std(_values(per_seed, a, "localisation_store")), 3)} | {n} |')
    return lines + ['']


def _deltas(summary, name):
    lines = [f'## Each arm minus MoCo v2 ({summary.get("baseline", "mocov2")}), paired by seed', '',
             'Mean of the per-seed differences and its 95 % t-interval. A difference counts only when its interval '
             'excludes 0.', '', '| arm | ' + ' | '.join(METRICS.values()) + ' | localisation |',
             '| --- | ' + ' | '.join('---' for _ in METRICS) + ' | --- |']
    for a, d in summary['paired_deltas'].items():
        lines.append(f'| {name[a]} | ' + ' | '.join(_iv(d.get(k)) for k in METRICS)
                     + f' | {_iv(d.get("localisation"), 3)} |')
    return lines + ['']


def _localisation(summary, per_seed, rows, name):
    lines = ['## Localisation of every source (held-out scenes, mean over seeds)', '',
             f'Uniform = 1.00; a centred Gaussian prior scores **{summary["localisation_centre_prior"]:.3f}**.', '',
             '| model | ' + ' | '.join(SALIENCY_SOURCES) + ' |',
             '| --- | ' + ' | '.join('---' for _ in SALIENCY_SOURCES) + ' |']
    for a in rows:
        if a != 'supervised':
            lines.append(f'| {name[a]} | ' + ' | '.join(
                _fmt(mean_std(_values(per_seed, a, f'localisation_{s}')), 3) for s in SALIENCY_SOURCES) + ' |')
    return lines + ['']


def _stress(records, stress, name):
    sp = records.get(stress, {})
    lines = [f'## Stress variant: `{stress}` backgrounds', '',
             'The v1 backgrounds (random crops of ~20 real photos with their own objects), same recipe.', '',
             '| arm | ' + ' | '.join(METRICS.values()) + ' | localisation (own source) | n |',
             '| --- | ' + ' | '.join('---' for _ in METRICS) + ' | --- | --- |']
    for a in ('random_init', 'mocov2', 'scl'):
        if any(a in sp[s] for s in sp):
            lines.append(f'| {name[a]} | ' + ' | '.join(_fmt(mean_std(_values(sp, a, k))) for k in METRICS)
                         + f' | {_fmt(mean_std(_values(sp, a, "localisation")), 3)} | '
                         f'{len(_values(sp, a, "linear_top1"))} |')
    return lines + ['']


def _goal(summary):
    g, scl = summary['goal'], summary['paired_deltas'].get('scl', {})
    loc_scl = '-' if summary['localisation_scl'] is None else f'{summary["localisation_scl"]:.3f}'

    def met(k):
        return 'yes' if g[k]['met'] else '**no**'

    return ['## Against the goal', '', '| goal | target | measured | met |', '| --- | --- | --- | --- |',
            f'| SCL - MoCo v2, linear top-1 (interval excludes 0) | >= +{g["delta_linear_top1"]["target"]:g} | '
            f'{_iv(scl.get("linear_top1"))} | {met("delta_linear_top1")} |',
            f'| SCL - MoCo v2, 1 % labels (interval excludes 0) | >= +{g["delta_1pct_top1"]["target"]:g} | '
            f'{_iv(scl.get("top1_1pct"))} | {met("delta_1pct_top1")} |',
            f'| SCL saliency localisation (own source), above the centre prior | >= {g["localisation_scl"]["target"]:g}'
            f' and > {summary["localisation_centre_prior"]:.3f} | {loc_scl} | {met("localisation_scl")} |', '']


def _per_seed(per_seed, seeds, rows, name):
    lines = ['## Per seed', '', '| seed | arm | ' + ' | '.join(METRICS.values()) + ' | localisation | store |',
             '| --- | --- | ' + ' | '.join('---' for _ in METRICS) + ' | --- | --- |']
    for s in seeds:
        for a in rows:
            r = per_seed[s].get(a)
            if r:
                vals = [r.get(k) for k in METRICS] + [r.get('localisation'), r.get('localisation_store')]
                lines.append(f'| {s} | {name[a]} | ' + ' | '.join(
                    '-' if x is None else f'{x:.2f}' for x in vals) + ' |')
    return lines + ['']


def write_markdown(path, records, summary, arms, labels, meta, stress=None, notes=None):
    """results.md: validity first (anchors), then the arms, the paired differences, localisation and the goal."""
    from scl.utils.fileio import atomic_write_text
    per_seed = records.get(summary['background_mode'], {})
    seeds = sorted(per_seed, key=int)
    rows = table_rows(per_seed, arms)
    name = {**labels, **ANCHOR_LABELS}
    lines = (_header(summary, meta, seeds) + _validity(summary) + _gates(summary) + _arms(per_seed, rows, name, meta)
             + _deltas(summary, name) + _localisation(summary, per_seed, rows, name) + _weights(summary, name)
             + (_stress(records, stress, name) if stress else []) + _goal(summary)
             + _per_seed(per_seed, seeds, rows, name))
    lines += ['![results](results.png)', '', '![paired differences](deltas.png)', '', '![curves](curves.png)', '',
              '![saliency](saliency_grid.png)', '']
    if notes:
        lines += ['## Discussion', '', notes.strip(), '']
    atomic_write_text(path, '\n'.join(lines))




def zoo_table(records, summary, arms, labels):
    """The model-zoo table of configs/*/README.md (markdown lines): every arm and anchor, mean +- std over seeds,
    then the validity and SCL - MoCo v2 line."""
    per_seed = records.get(summary['background_mode'], {})
    rows = table_rows(per_seed, arms)
    name = {**labels, **ANCHOR_LABELS}
    lines = ['| Pretraining | Linear top-1 (%) | 1 % labels top-1 (%) | 10 % labels top-1 (%) | Localisation (own '
             'source) | Seeds |', '| :-- | --: | --: | --: | --: | --: |']
    for a in rows:
        cells = [_fmt(mean_std(_values(per_seed, a, k))) for k in METRICS]
        loc = _fmt(mean_std(_values(per_seed, a, 'localisation')), 2)
        lines.append(f'| {name[a]} | ' + ' | '.join(cells) + f' | {loc} | {len(_values(per_seed, a, "linear_top1"))} |')
    v, d = summary['validity'], summary['paired_deltas'].get('scl', {})
    valid = '-' if not v else ('**yes**' if v['valid'] else '**no**') + ' (' + ', '.join(
        f'{v[k]["gap"]:+.1f}' for k in VALIDITY) + ')'
    lines += ['', f'Valid (MoCo v2 >= {VALIDITY["linear_top1"]:g} / {VALIDITY["top1_1pct"]:g} points above random '
              f'initialisation): {valid}; SCL - MoCo v2 (paired, 95 % interval): linear {_iv(d.get("linear_top1"))}, '
              f'1 % labels {_iv(d.get("top1_1pct"))}; centre prior localisation '
              f'{summary["localisation_centre_prior"]:.2f}.']
    return lines


def _plt():
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    return plt


def _finish_rows(plt, fig, axes, names, path):
    """One row per name, top to bottom, labelled (wrapped) on the first panel; save and close."""
    import textwrap
    ax0 = np.atleast_1d(axes)[0]
    ax0.set_yticks(range(len(names)))
    ax0.set_yticklabels([textwrap.fill(n, 34) for n in names], fontsize=7)
    ax0.invert_yaxis()
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_results(path, records, arms, labels, background='textures'):
    """Per-seed points and means of every arm and anchor, one panel per metric."""
    plt = _plt()
    per_seed = records.get(background, {})
    rows = table_rows(per_seed, arms)
    name = {**labels, **ANCHOR_LABELS}
    fig, axes = plt.subplots(1, len(METRICS), figsize=(4.2 * len(METRICS), 0.45 * len(rows) + 1.6), sharey=True)
    for ax, (k, title) in zip(np.atleast_1d(axes), METRICS.items()):
        for i, a in enumerate(rows):
            vals = _values(per_seed, a, k)
            if vals:
                ax.scatter(vals, [i] * len(vals), s=14, color='tab:grey' if a in ANCHORS else 'tab:blue', alpha=0.7)
                ax.plot([np.mean(vals)] * 2, [i - 0.3, i + 0.3], color='k', lw=2)
        ax.set_title(title, fontsize=9)
        ax.grid(axis='x', alpha=0.3)
    _finish_rows(plt, fig, axes, [name[a] for a in rows], path)


def plot_deltas(path, summary, labels):
    """Every arm minus MoCo v2: paired mean and 95 % t-interval per metric (the goal's thresholds dashed)."""
    plt = _plt()
    arms = list(summary['paired_deltas'])
    fig, axes = plt.subplots(1, len(METRICS), figsize=(4.2 * len(METRICS), 0.45 * len(arms) + 1.6), sharey=True)
    for ax, (k, title) in zip(np.atleast_1d(axes), METRICS.items()):
        for i, a in enumerate(arms):
            iv = summary['paired_deltas'][a].get(k)
            if iv is None:
                continue
            ax.scatter(iv['diffs'], [i] * len(iv['diffs']), s=10, color='tab:grey', alpha=0.6)
            if iv['low'] is not None:
                ax.plot([iv['low'], iv['high']], [i, i], color='tab:red' if excludes_zero(iv) else 'k', lw=1.5)
            ax.scatter([iv['mean']], [i], color='k', marker='D', s=20)
        ax.axvline(0, color='grey', lw=1)
        goal = dict(linear_top1=GOAL['linear_top1'], top1_1pct=GOAL['top1_1pct']).get(k)
        if goal:
            ax.axvline(goal, color='tab:green', ls='--', lw=1)
        ax.set_title(f'{title}: arm - MoCo v2', fontsize=9)
    _finish_rows(plt, fig, axes, [labels[a] for a in arms], path)


def plot_curves(path, curves, arms, labels):
    """Training loss and the kNN monitor along pretraining (mean over seeds): ``curves[seed][arm][key]`` lists
    ``[iter, value]`` pairs."""
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for a in arms:
        for ax, key in zip(axes, ('loss', 'knn/top1')):
            pts = {}
            for seed in curves:
                for it, val in curves[seed].get(a, {}).get(key, []):
                    pts.setdefault(it, []).append(val)
            if pts:
                its = sorted(pts)
                ax.plot(its, [np.mean(pts[i]) for i in its], marker='o' if key != 'loss' else None, ms=3,
                        label=labels[a])
    axes[0].set_title('InfoNCE loss (logged)')
    axes[1].set_title('kNN top-1 % (momentum encoder, 1000 / 500)')
    for ax in axes:
        ax.set_xlabel('pretraining iteration')
        ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_saliency_grid(path, images, columns, n=4):
    """Scene | one map per column (title, maps), e.g. each arm's own source and the centre prior."""
    plt = _plt()
    n = min(n, len(images))
    fig, axes = plt.subplots(n, 1 + len(columns), figsize=(1.9 * (1 + len(columns)), 1.9 * n), squeeze=False)
    for i in range(n):
        axes[i][0].imshow(images[i])
        h, w = images[i].shape[:2]
        for j, (title, maps) in enumerate(columns, start=1):
            axes[i][j].imshow(images[i])
            axes[i][j].imshow(maps[i], cmap='jet', alpha=0.5, extent=(0, w, h, 0), vmin=0, vmax=1)
            if i == 0:
                axes[i][j].set_title(title, fontsize=6)
    axes[0][0].set_title('scene', fontsize=6)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(path, dpi=50)
    plt.close(fig)
