"""Scene benchmark v2: does saliency help contrastive pretraining on multi-object scenes? One command, the same
budget for every arm, anchors beside every comparison.

    python tools/benchmarks/scene_benchmark.py --out work_dirs/scene_benchmark --seeds 3 \\
        --report-dir docs/benchmarks/scene --stress photos          # the committed results (CPU preset)
    python tools/benchmarks/scene_benchmark.py --out /tmp/sb --preset smoke         # a few minutes: plumbing only

Per seed: pretrain every arm (``scl.benchmarks.scene.arms``: MoCo v2, SCL, and the controls that isolate its crops,
its loss weights and the shared crop point) with ``tools/train.py`` on the scene data (data v2: object-free
``textures`` backgrounds), then score each final checkpoint, built with its own method's model and loaded strictly:

- the frozen linear probe on the labelled objects (all labels, and class-balanced 1 % and 10 %);
- saliency localisation on held-out scenes for every source, the run's own store on its pretraining scenes, against
  uniform (1.0) and a centre prior;
- the anchors on the same data and probe: random initialisation (every seed) and supervised (seed 0).

``--stress photos`` adds MoCo v2 and SCL on the v1 photo backgrounds (``--stress-seeds``, default 1). Re-running the
same command resumes: finished stages are read from ``<out>/records.json`` and an interrupted pretraining run resumes
from its last checkpoint. On a machine without that working directory, ``--records-from
docs/benchmarks/scene/results.json`` takes the committed run's finished stages and runs only the rest (a stage is
taken only under the same cache key: the preset values it depends on, its resolved config and the data's content
fingerprint, ``scl.benchmarks.scene.records.stage_key``; the anchors survive a longer pretraining schedule).
``--evaluate-only`` scores what has finished and pretrains nothing (e.g. while another invocation pretrains);
invocations sharing ``--out`` merge records.json stage by stage and skip the stages another one has finished.
``--jobs 3`` pretrains the unfinished runs three at a time (the CPUs shared out, at least one thread each) before it
evaluates: on 2 cores barely sooner than one after another, for machines where one run leaves cores idle. Writes
results.json (``summary``: validity, anchors, paired differences with 95 % t-intervals, goal), results.md, PNGs and
zoo_table.md (the model zoo pages' table) to ``--report-dir`` (default ``--out``), with a progress bar and ETA.
"""
import argparse
import json
import os
import os.path as osp
import platform
import sys
import time

import numpy as np

from scl.benchmarks.scene import arms as A
from scl.benchmarks.scene import data as D
from scl.benchmarks.scene import report as R
from scl.benchmarks.scene import runs
from scl.benchmarks.scene.records import (SECTIONS, load_records, merge_records, scored_at, stage_key,  # noqa: F401
                                          sync_records)
from scl.utils.fileio import atomic_write_json, atomic_write_text


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--out', required=True, help='working directory (data, runs, records.json)')
    p.add_argument('--report-dir', help='where results.json / results.md / PNGs go (default: --out)')
    p.add_argument('--seeds', type=int, default=3, help='number of seeds (0, 1, ...)')
    p.add_argument('--preset', choices=sorted(A.PRESETS), default='cpu')
    p.add_argument('--arms', nargs='+', choices=list(A.ARMS), default=list(A.DEFAULT_ARMS))
    p.add_argument('--stress', choices=[b for b in D.BACKGROUNDS if b != 'textures'],
                   help='also run MoCo v2 and SCL on this background mode')
    p.add_argument('--stress-seeds', type=int, default=1)
    p.add_argument('--data', help='scene data directory for the default backgrounds (default: <out>/data)')
    p.add_argument('--evaluate-only', action='store_true', help='score finished runs; pretrain nothing')
    p.add_argument('--report-only', action='store_true', help='write the report from records.json; run nothing')
    p.add_argument('--threads', type=int, default=2, help='torch threads for the evaluation')
    p.add_argument('--jobs', type=int, default=1,
                   help='pretrain up to this many runs side by side before evaluating, each with the CPUs shared out '
                   '(at least one thread each)')
    p.add_argument('--notes', help='a markdown file appended to results.md under "Discussion"')
    p.add_argument('--records-from', metavar='RESULTS_JSON',
                   help="an earlier run's results.json (e.g. the committed docs/benchmarks/scene/results.json): its "
                   "stages count as done where their cache key (the preset values they depend on, the resolved config, "
                   "the data's fingerprint) is unchanged and they were scored at its probe size, so a machine without "
                   "that run's checkpoints continues it")
    args = p.parse_args(argv)
    if args.jobs < 1:
        p.error(f'--jobs must be at least 1, got {args.jobs}')
    return args


def stages(args):
    """(background, seed, what) in run order; ``what`` is an arm, 'random_init' or 'supervised'."""
    out = []
    for seed in range(args.seeds):
        out += [('textures', seed, 'random_init')] + [('textures', seed, a) for a in args.arms]
        if seed == 0:
            out.append(('textures', 0, 'supervised'))
    if args.stress:
        for seed in range(args.stress_seeds):
            out += [(args.stress, seed, w) for w in ('random_init', 'mocov2', 'scl')]
    return out


def figure_args(argv):
    """The arguments that decide the figures (a --report-only / --evaluate-only / --notes / --records-from re-run
    reports the run it resumed)."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a in ('--report-only', '--evaluate-only') or a.startswith(('--notes=', '--records-from=')):
            pass
        elif a in ('--notes', '--records-from'):
            skip = True
        else:
            out.append(a)
    return out


def versions():
    import mmcv
    import mmengine
    import mmpretrain
    import torch

    import scl
    return dict(scl=scl.__version__, torch=torch.__version__, mmengine=mmengine.__version__, mmcv=mmcv.__version__,
                mmpretrain=mmpretrain.__version__)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    args.argv = argv
    import torch
    torch.set_num_threads(args.threads)
    from mmengine.logging import MMLogger
    from tqdm import tqdm

    import scl  # noqa: F401
    from scl.benchmarks.scene.evaluation import Evaluator, run_model_config
    MMLogger.get_instance('scene_benchmark', log_level='WARNING')
    preset = A.PRESETS[args.preset]
    out = osp.abspath(args.out)
    report_dir = osp.abspath(args.report_dir or out)
    os.makedirs(out, exist_ok=True)
    os.makedirs(report_dir, exist_ok=True)
    rec_path = osp.join(out, 'records.json')
    state = load_records(rec_path)
    mine = set()  # the stages this invocation finished or took: what it writes over the records file
    datas = {'textures': osp.abspath(args.data or D.data_dir(out, 'textures'))}
    if args.stress:
        datas[args.stress] = D.data_dir(out, args.stress)
    metas = {}
    if not args.report_only:
        for bg, path in datas.items():
            metas[bg] = D.ensure_data(path, preset, bg)
    keys = {}

    def key(bg, what):
        """The stage's cache key (records.stage_key) on this run's data."""
        if (bg, what) not in keys:
            keys[(bg, what)] = stage_key(what, preset, metas[bg]['fingerprint'])
        return keys[(bg, what)]

    if args.records_from:
        with open(args.records_from) as f:
            taken, left = merge_records(state, json.load(f), args.preset, preset, key_of=key if metas else None)
        mine.update((bg, int(seed), what) for bg, seed, what in taken)
        print(f'--records-from {args.records_from}: {len(taken)} finished stage(s) taken')
        for (bg, seed, what), reasons in sorted(left.items()):
            print(f'  not taken ({", ".join(reasons)} changed since): {bg} seed {seed} {what}')
    recs, curves, walls = state['records'], state['curves'], state['wall_times_s']

    def done(bg, seed, what):
        rec = recs.get(bg, {}).get(str(seed), {}).get(what)
        return scored_at(rec, preset['probe_size']) and rec.get('cache_key') == key(bg, what)

    def unpretrained(bg, seed, what):
        return what in A.ARMS and not runs.finished(out, seed, what, preset, bg, key(bg, what))

    def save():
        sync_records(rec_path, state, mine)

    if args.records_from:
        save()  # what was taken is this run's from now on
    todo = [] if args.report_only else [s for s in stages(args) if not done(*s)]
    if args.jobs > 1 and not args.evaluate_only:
        pending = [s for s in todo if unpretrained(*s)]
        if pending:
            runs.pretrain_side_by_side(out, pending, datas, preset, args.jobs,
                                       keys={(bg, s, w): key(bg, w) for bg, s, w in pending})
    evaluators = {}
    bar = tqdm(todo, desc='scene benchmark', unit='stage')
    for bg, seed, what in bar:
        bar.set_postfix_str(f'{bg} seed {seed} {what}')
        sync_records(rec_path, state, mine, write=False)
        if done(bg, seed, what):  # another invocation in this working directory finished it meanwhile
            continue
        if args.evaluate_only and unpretrained(bg, seed, what):
            continue
        if bg not in evaluators:
            evaluators[bg] = Evaluator(datas[bg], preset)
        ev = evaluators[bg]
        slot = recs.setdefault(bg, {}).setdefault(str(seed), {})
        slot['centre_prior'] = ev.centre_prior
        t0 = time.time()
        if what == 'random_init':
            slot[what] = ev.random_init(A.config_path('mocov2'), seed)
        elif what == 'supervised':
            slot[what] = ev.supervised(A.config_path('mocov2'), seed)
        else:
            arm = A.ARMS[what]
            ckpt = runs.pretrain(out, seed, what, datas[bg], preset, bg, key=key(bg, what))
            t0 = time.time()  # the evaluation's own time (pretraining is counted from its logs below)
            wd = osp.join(runs.run_dir(out, seed, what, bg), 'pretrain')
            slot[what] = ev.evaluate_checkpoint(run_model_config(A.config_path(what), wd), ckpt,
                                                own_source=arm.map_source, seed=seed, keep_maps=6)
            maps = slot[what].pop('maps')
            np.savez(osp.join(runs.run_dir(out, seed, what, bg), 'val_saliency.npz'), **maps)
            curves.setdefault(bg, {}).setdefault(str(seed), {})[what] = runs.logged_curve(wd)
            walls.setdefault(bg, {}).setdefault(str(seed), {})[f'{what}/pretrain'] = runs.compute_seconds(wd)
        walls.setdefault(bg, {}).setdefault(str(seed), {})[f'{what}/evaluate'] = round(time.time() - t0, 1)
        slot[what]['cache_key'] = key(bg, what)
        mine.add((bg, seed, what))
        save()
    bar.close()
    write_report(args, out, report_dir, preset, recs, curves, walls, datas, evaluators)
    return 0


def write_report(args, out, report_dir, preset, recs, curves, walls, datas, evaluators):
    import torch
    arms = [a for a in args.arms if any(a in v for v in recs.get('textures', {}).values())]
    labels = {a: A.ARMS[a].label for a in A.ARMS}
    summary = R.summarise(recs, arms)
    complete = all('linear_top1' in recs.get(bg, {}).get(str(s), {}).get(w, {}) for bg, s, w in stages(args))
    summary['complete'] = complete
    meta_file = osp.join(datas['textures'], 'meta.json')
    data_meta = json.load(open(meta_file)) if osp.isfile(meta_file) else {}
    seconds = {bg: {s: sum(v for v in w.values() if v) for s, w in by_seed.items()} for bg, by_seed in walls.items()}
    meta = dict(
        command=' '.join(['python', 'tools/benchmarks/scene_benchmark.py'] + figure_args(args.argv)),
        preset=args.preset, preset_values=preset, arms=arms, complete=complete,
        configs={a: A.CONFIGS[A.ARMS[a].config] for a in arms},
        overrides={a: A.ARMS[a].overrides for a in arms},
        background_mode='textures', stress=args.stress,
        data=dict(config=data_meta.get('config'), background=data_meta.get('background')),
        versions=versions(),
        machine=f'{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}'
        + (f', {torch.cuda.get_device_name(0)}' if torch.cuda.is_available() else ', no GPU'),
        wall_time_s=round(sum(sum(v.values()) for v in seconds.values()), 1),
        seconds_per_seed=seconds)
    results = dict(summary=summary, meta=meta, per_seed=recs.get('textures', {}),
                   stress={args.stress: recs.get(args.stress, {})} if args.stress else {},
                   curves=curves, wall_times_s=walls)
    atomic_write_json(osp.join(report_dir, 'results.json'), results, indent=1)
    notes = open(args.notes).read() if args.notes else None
    R.write_markdown(osp.join(report_dir, 'results.md'), recs, summary, arms, labels, meta, args.stress, notes)
    # for the model zoo pages (configs/*/README.md)
    atomic_write_text(osp.join(report_dir, 'zoo_table.md'), '\n'.join(R.zoo_table(recs, summary, arms, labels)) + '\n')
    if arms:
        R.plot_results(osp.join(report_dir, 'results.png'), recs, arms, labels)
        R.plot_deltas(osp.join(report_dir, 'deltas.png'), summary, labels)
        R.plot_curves(osp.join(report_dir, 'curves.png'), curves.get('textures', {}), arms, labels)
        columns = []
        for a in arms:
            f = osp.join(runs.run_dir(out, 0, a), 'val_saliency.npz')
            if osp.isfile(f):
                src = A.ARMS[a].map_source
                loc = recs['textures']['0'][a].get('localisation')
                columns.append((f'{labels[a][:28]}\n{src} {loc:.2f}', np.load(f)[src]))
        if columns:
            from scl.evaluation import centre_prior, held_out_scenes
            _, _, images = held_out_scenes(datas['textures'], 'val', 6)
            columns.append((f'centre prior {summary["localisation_centre_prior"]:.2f}',
                            [centre_prior(columns[0][1].shape[-1])] * 6))
            R.plot_saliency_grid(osp.join(report_dir, 'saliency_grid.png'), images, columns)
    print(json.dumps({k: v for k, v in summary.items() if k not in ('paired_deltas', 'validity')}, indent=1))
    print(f'wrote {report_dir}/results.json, results.md and the plots')


if __name__ == '__main__':
    from scl.utils.errors import run_main
    sys.exit(run_main(main))
