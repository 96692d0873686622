"""Scene data v3: the search for scenes on which perfect saliency helps.

Each candidate is a set of scene-builder settings and a crop scale range. It is screened by its same-object rates
(:mod:`.geometry`) and the promising ones are piloted: oracle crops only, the shared-point control and MoCo v2, with
the random-initialisation anchor, scored by the frozen linear probe on the **validation** split (the last sixth of the
labelled training objects; the test objects are never read). The chosen candidate has the largest oracle minus
shared-point gain on validation. ``tools/benchmarks/scene_data_search.py`` runs it.
"""
import json
import os.path as osp
from dataclasses import replace

from .arms import ARMS, Arm

# The pilots' budget: the CPU preset's recipe (batch 32, queue 256, lr 0.01, 64 px views and probe) at 2000
# iterations, on 1000 training scenes; 12000 labelled objects of which the last sixth (2000) is the validation split.
PILOT = dict(num_train=1000, num_val=20, num_cls_train=12000, num_cls_test=100, pretrain_iters=2000, checkpoints=1,
             batch=32, lr=0.01, queue_len=256, workers=0, probe_size=64, probe_epochs=300, low_shot=(1.0, 10.0),
             low_shot_draws=3, supervised_iters=2000, localisation_scenes=100)
PILOT_ARMS = ('oracle_crops_only', 'shared_point_control', 'mocov2')
# SaliencyCropTransform in the SCL twin's pipeline, RandomResizedCrop inside the MoCo v2 twin's MultiView.
_SCL_CROP = 'train_dataloader.dataset.pipeline.1'
_MOCO_CROP = 'train_dataloader.dataset.pipeline.1.transforms.0.0'

# Candidates: scene-builder settings (SceneConfig fields) and the crop scale range of both methods' views. v2 is the
# data the committed benchmark v2 ran on; the others shrink the objects relative to the scene, use fewer of them and
# lower the smallest crop (docs/benchmarks/scene/data_v3/search.md says what each moved).
CANDIDATES = {
    'v2': dict(scene=dict(), scale=(0.2, 1.0)),
    'v2_s08': dict(scene=dict(), scale=(0.08, 1.0)),
    'c128_o1-2_28-40_s08': dict(scene=dict(min_objects=1, max_objects=2, min_object_size=28, max_object_size=40),
                                scale=(0.08, 1.0)),
    'c192_o1-3_28-48_s08': dict(scene=dict(canvas=192, min_objects=1, max_objects=3, min_object_size=28,
                                           max_object_size=48), scale=(0.08, 1.0)),
    'c256_o1-2_28-48_s08': dict(scene=dict(canvas=256, min_objects=1, max_objects=2, min_object_size=28,
                                           max_object_size=48), scale=(0.08, 1.0)),
    'c256_o1-3_32-64_s08': dict(scene=dict(canvas=256, min_objects=1, max_objects=3, min_object_size=32,
                                           max_object_size=64), scale=(0.08, 1.0)),
    'c256_o1_28-40_s05': dict(scene=dict(canvas=256, min_objects=1, max_objects=1, min_object_size=28,
                                         max_object_size=40), scale=(0.05, 1.0)),
    # c256_o1-2_28-48_s08 with one smooth colour field (flipped at random) as every training scene's background: the
    # background no longer tells a scene from the others (the localisation study found the trained networks telling
    # scenes by their backgrounds two to three times as often as by their garments), so a pair that shares only
    # background teaches little and one that shares a garment teaches the garment. The probe's images keep fresh
    # backgrounds.
    'c256_o1-2_28-48_s08_field1': dict(scene=dict(canvas=256, min_objects=1, max_objects=2, min_object_size=28,
                                                  max_object_size=48, background_kinds=('field', ),
                                                  scene_background_pool=1), scale=(0.08, 1.0)),
}


def candidate(name):
    if name not in CANDIDATES:
        raise KeyError(f'unknown data candidate {name!r}: choose from {", ".join(CANDIDATES)}')
    return CANDIDATES[name]


def scene_config(name, preset=PILOT, seed=0):
    """The SceneConfig of a candidate at a preset's sizes (the textures backgrounds of data v2)."""
    from scl.datasets.scene_builder import SceneConfig
    base = SceneConfig(num_train=preset['num_train'], num_val=preset['num_val'],
                       num_cls_train=preset['num_cls_train'], num_cls_test=preset['num_cls_test'], seed=seed)
    return replace(base, **candidate(name)['scene'])


def ensure_candidate_data(path, name, preset=PILOT):
    """A candidate's scenes at ``path``, built unless they are there (an existing directory must hold exactly the
    candidate's settings), with the candidate's name recorded. Returns its meta.json."""
    from .data import ensure_built
    return ensure_built(path, scene_config(name, preset), variant=name)


def scale_overrides(arm, scale):
    """The ``--cfg-options`` that set both views' crop scale range of an arm's config (its name or an Arm)."""
    lo, hi = scale
    if (ARMS[arm] if isinstance(arm, str) else arm).config == 'mocov2':
        return [f'{_MOCO_CROP}.crop_ratio_range=({lo},{hi})']
    return [f'{_SCL_CROP}.scale=({lo},{hi})']


def pilot_arm(arm_name, name):
    """The benchmark arm ``arm_name`` on candidate ``name``'s crop scale."""
    arm = ARMS[arm_name]
    return Arm(arm.config, list(arm.overrides) + scale_overrides(arm_name, candidate(name)['scale']), arm.label,
               arm.crops, arm.weights, arm.source)


def load_records(path):
    if osp.isfile(path):
        with open(path) as f:
            return json.load(f)
    return {}


def save_records(path, records):
    """Write atomically (temporary file + rename): an interruption leaves the old file whole."""
    from scl.utils.fileio import atomic_write_json
    atomic_write_json(path, records, indent=1, sort_keys=True)


# The choice: oracle crops minus shared-point crops on validation, linear top-1, at least this much on the mean of the
# seeds with every seed positive, from at least MIN_SEEDS seeds, on data where MoCo v2 stays valid.
MIN_GAIN = 2.0
MIN_SEEDS = 2
MOCO_VALID = 10.0


def _by_seed(val, arm, key='linear_top1'):
    """An arm's figures in seed order."""
    return [v for _, v in sorted(_per_seed(val, arm, key).items(), key=lambda kv: int(kv[0]))]


def _per_seed(val, arm, key='linear_top1'):
    return {s: r[arm][key] for s, r in val.items() if arm in r and key in r[arm]}


def _paired(val, a, b, key='linear_top1'):
    x, y = _per_seed(val, a, key), _per_seed(val, b, key)
    seeds = sorted(set(x) & set(y), key=int)
    return [x[s] - y[s] for s in seeds]


def summarise(records):
    """search.json: every candidate's settings, same-object rates and validation figures, and the choice.

    ``chosen`` is the candidate with the largest mean oracle-crops minus shared-point gain (linear, validation) among
    those with at least ``MIN_SEEDS`` seeds, every seed's gain positive, a mean gain of at least ``MIN_GAIN`` and MoCo
    v2 at least ``MOCO_VALID`` above random initialisation; None when no candidate qualifies (``best`` then names
    the largest gain seen)."""
    import numpy as np
    candidates, qualified = {}, []
    for name, rec in records.items():
        val = rec.get('val', {})
        out = dict(settings=rec.get('settings'), same_object_rate=rec.get('same_object_rate'),
                   scene_stats=rec.get('scene_stats'),
                   val={arm: _by_seed(val, arm) for arm in ('random_init', ) + PILOT_ARMS},
                   val_1pct={arm: _by_seed(val, arm, 'top1_1pct') for arm in ('random_init', ) + PILOT_ARMS},
                   seeds=sorted((int(s) for s in val), key=int),
                   pretrain_s={arm: [r[arm].get('pretrain_s') for r in val.values() if arm in r] for arm in PILOT_ARMS},
                   machine=rec.get('machine'))
        gains = _paired(val, 'oracle_crops_only', 'shared_point_control')
        moco = _paired(val, 'mocov2', 'random_init')
        out.update(oracle_minus_shared_val=gains, oracle_minus_mocov2_val=_paired(val, 'oracle_crops_only', 'mocov2'),
                   mocov2_minus_random_val=moco)
        learned = _paired(val, 'shared_point_control', 'random_init')
        # pretraining that ends below random initialisation learned nothing the probe can use: its gains mean nothing
        out['shared_minus_random_val'] = learned
        out['learns'] = bool(learned) and float(np.mean(learned)) > 0
        if gains:
            out['mean_gain'] = float(np.mean(gains))
            out['gain_interval'] = _interval(gains)
            ok = (out['learns'] and len(gains) >= MIN_SEEDS and min(gains) > 0 and np.mean(gains) >= MIN_GAIN and moco
                  and np.mean(moco) >= MOCO_VALID)
            out['qualifies'] = bool(ok)
            if ok:
                qualified.append(name)
        candidates[name] = out
    chosen = None
    if qualified:
        name = max(qualified, key=lambda n: candidates[n]['mean_gain'])
        c = candidates[name]
        chosen = dict(name=name, settings=c['settings'], oracle_minus_shared_val=c['oracle_minus_shared_val'],
                      mocov2_minus_random_val=c['mocov2_minus_random_val'], seeds=c['seeds'])
    piloted = [n for n in candidates if 'mean_gain' in candidates[n] and candidates[n]['learns']]
    best = max(piloted, key=lambda n: candidates[n]['mean_gain']) if piloted else None
    return dict(candidates=candidates, chosen=chosen, best=best, pooled=pooled_gain(candidates), pilot_preset=PILOT,
                criteria=dict(min_gain=MIN_GAIN, min_seeds=MIN_SEEDS, every_seed_positive=True,
                              mocov2_minus_random_min=MOCO_VALID, split='train-holdout (validation)'),
                records=records)


def _interval(diffs):
    from .report import paired_interval
    r = paired_interval(diffs, [0.0] * len(diffs))
    return [r['mean'], r['low'], r['high']]


def pooled_gain(candidates):
    """Oracle crops minus shared point over every piloted candidate and seed together: mean and 95 % t-interval.

    Each candidate-seed is one paired difference. The candidates differ in their scenes, so this is not any one
    candidate's gain; it says whether the data searched so far can give +``MIN_GAIN`` at all: when the interval's
    upper end lies below it (``excludes_min_gain``), none of these scenes is near the gain the choice needs.
    Candidates whose shared-point arm ends below random initialisation (nothing learned) are left out."""
    used = {n: c for n, c in candidates.items() if c.get('oracle_minus_shared_val') and c.get('learns', True)}
    diffs = [g for c in used.values() for g in c['oracle_minus_shared_val']]
    if len(diffs) < 2:
        return None
    mean, low, high = _interval(diffs)
    return dict(mean=mean, low=low, high=high, n=len(diffs), candidates=sorted(used),
                left_out=sorted(n for n, c in candidates.items() if c.get('oracle_minus_shared_val') and n not in used),
                excludes_min_gain=bool(high < MIN_GAIN))


def records_from_results(results):
    """The raw records an earlier search.json carries (for ``--records-from``)."""
    return results.get('records', {})


def _fmt(vals, digits=2):
    return ' / '.join(f'{v:.{digits}f}' for v in vals) if vals else '-'


def write_markdown(path, results):
    """search.md's table of candidates (the prose around it lives in the committed file's notes section)."""
    lines = ['# Scene data v3: the search (generated by tools/benchmarks/scene_data_search.py)', '',
             'Same-object rate: the share of view pairs whose two views each hold at least half of the same object '
             '(20000 pairs drawn by SaliencyCropTransform and mmpretrain\'s RandomResizedCrop). Validation: linear '
             'top-1 of the frozen probe on the last sixth of the labelled training objects, per seed. '
             f'Pilot: {results["pilot_preset"]["pretrain_iters"]} iterations on '
             f'{results["pilot_preset"]["num_train"]} scenes.', '',
             '| candidate | canvas | objects | size px | crop scale | uniform | oracle | independent | '
             'random init | MoCo v2 | shared point | oracle crops | oracle - shared | MoCo - random |',
             '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|']
    for name, c in results['candidates'].items():
        s, r = c['settings'] or {}, c['same_object_rate'] or {}
        rate = (lambda k: f'{100 * r[k]:.1f} %' if k in r else '-')
        v = c['val']
        lines.append(
            f'| {name} | {s.get("canvas", "-")} | {s.get("min_objects", "-")}-{s.get("max_objects", "-")} | '
            f'{s.get("min_object_size", "-")}-{s.get("max_object_size", "-")} | {tuple(s.get("crop_scale", ()))} | '
            f'{rate("uniform")} | {rate("oracle")} | {rate("independent")} | {_fmt(v["random_init"])} | '
            f'{_fmt(v["mocov2"])} | {_fmt(v["shared_point_control"])} | {_fmt(v["oracle_crops_only"])} | '
            f'{_fmt(c["oracle_minus_shared_val"], 2)} | {_fmt(c["mocov2_minus_random_val"], 1)} |')
    chosen = results['chosen']
    lines += ['', f'Criteria: oracle crops - shared point >= +{MIN_GAIN} linear on validation (mean of >= '
              f'{MIN_SEEDS} seeds, every seed positive), MoCo v2 - random init >= {MOCO_VALID}.', '']
    if chosen:
        lines.append(f'**Chosen: {chosen["name"]}** (oracle - shared {_fmt(chosen["oracle_minus_shared_val"])}, '
                     f'MoCo v2 - random {_fmt(chosen["mocov2_minus_random_val"], 1)}; seeds {chosen["seeds"]}).')
    else:
        lines.append('**No candidate chosen yet**' + (f' (largest gain so far: {results["best"]})'
                                                     if results['best'] else '') + '.')
    gains = [(n, c['gain_interval']) for n, c in results['candidates'].items()
             if len(c.get('oracle_minus_shared_val', [])) >= 2]
    if gains:
        lines += ['', 'Oracle crops - shared point, mean [95 % interval] over seeds: ' + '; '.join(
            f'{n} {m:+.2f} [{lo:+.2f}, {hi:+.2f}]' for n, (m, lo, hi) in gains) + '.']
    pooled = results.get('pooled')
    if pooled:
        lines += ['', f'Pooled over every piloted candidate and seed ({pooled["n"]} paired differences): '
                  f'{pooled["mean"]:+.2f} [{pooled["low"]:+.2f}, {pooled["high"]:+.2f}]'
                  + (f'; the interval excludes +{MIN_GAIN}' if pooled['excludes_min_gain'] else '')
                  + (f' (left out, pretraining ended below random initialisation: {", ".join(pooled["left_out"])})'
                     if pooled.get('left_out') else '') + '.']
    notes = path[:-3] + '_notes.md'
    if osp.isfile(notes):
        with open(notes) as f:
            lines += ['', f.read().rstrip()]
    from scl.utils.fileio import atomic_write_text
    atomic_write_text(path, '\n'.join(lines) + '\n')
