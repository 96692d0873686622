"""Scene data v3 search: find scenes on which perfect saliency helps (scl.benchmarks.scene.data_search).

    python tools/benchmarks/scene_data_search.py --out work_dirs/data_v3 screen        # same-object rates, seconds
    python tools/benchmarks/scene_data_search.py --out work_dirs/data_v3 pilot --candidates c256_o1-2_28-48_s08 \\
        --seeds 2                                       # oracle crops / shared point / MoCo v2 + random init
    python tools/benchmarks/scene_data_search.py --out work_dirs/data_v3 report \\
        --report-dir docs/benchmarks/scene/data_v3       # search.json and search.md

``screen`` builds 500 scenes of every candidate and prints their same-object rates (uniform anchor, oracle anchor,
independent crops). ``pilot`` pretrains the three pilot arms of the named candidates (2000 iterations, the CPU
preset's recipe on 1000 scenes) and scores each with the frozen linear probe on the validation split (the last
sixth of the labelled training objects; the test objects are never read), beside a randomly initialised network.
Every finished arm-seed is written to ``<out>/search_records.json`` at once (atomically); re-running resumes, and
``--records-from`` takes a committed search.json's figures on a machine without them.
"""
import argparse
import json
import os
import os.path as osp
import sys
import time

from scl.benchmarks.scene import data_search as S
from scl.utils.fileio import atomic_write_json, locked
from scl.utils.provenance import machine


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--out', required=True, help='working directory (data, runs, search_records.json)')
    p.add_argument('stage', choices=('screen', 'pilot', 'report'))
    p.add_argument('--candidates', nargs='+', choices=list(S.CANDIDATES), default=list(S.CANDIDATES))
    p.add_argument('--seeds', type=int, default=2)
    p.add_argument('--arms', nargs='+', choices=list(S.PILOT_ARMS), default=list(S.PILOT_ARMS))
    p.add_argument('--threads', type=int, default=2, help='torch threads for pretraining and evaluation')
    p.add_argument('--pairs', type=int, default=20000, help='view pairs per candidate in the screen')
    p.add_argument('--report-dir', help='where search.json and search.md go (default: --out)')
    p.add_argument('--records-from', metavar='SEARCH_JSON', help='take the figures of an earlier search.json')
    return p.parse_args(argv)


def screen(args, records):
    from scl.benchmarks.scene.geometry import same_object_rates
    screen_preset = dict(S.PILOT, num_train=500, num_val=10, num_cls_train=10, num_cls_test=10)
    for name in args.candidates:
        data = osp.join(args.out, 'screen', name)
        S.ensure_candidate_data(data, name, screen_preset)
        t0 = time.time()
        rates = same_object_rates(osp.join(data, 'scenes', 'annotations', 'instances_train.json'),
                                  S.candidate(name)['scale'], pairs=args.pairs)
        rec_path = osp.join(args.out, 'search_records.json')
        with locked(rec_path):  # a pilot may be writing its records meanwhile
            records = S.load_records(rec_path) or records
            rec = records.setdefault(name, {})
            rec['settings'] = settings(name)
            rec['same_object_rate'] = {k: rates[k] for k in ('uniform', 'oracle', 'independent', 'mmpretrain')}
            rec['scene_stats'] = dict(objects_per_scene=rates['objects_per_scene'],
                                      object_area_share=rates['object_area_share'], scenes=rates['scenes'])
            S.save_records(rec_path, records)
        r = rec['same_object_rate']
        print(f'{name:<24} uniform {100 * r["uniform"]:5.1f} %  oracle {100 * r["oracle"]:5.1f} %  independent '
              f'{100 * r["independent"]:5.1f} % (mmpretrain {100 * r["mmpretrain"]:5.1f} %)  oracle - uniform '
              f'{100 * (r["oracle"] - r["uniform"]):+5.1f}  objects {rates["objects_per_scene"]:.2f}, '
              f'{100 * rates["object_area_share"]:.1f} % of the area  ({time.time() - t0:.1f} s)')
    return records


def settings(name):
    from dataclasses import asdict
    cfg = asdict(S.scene_config(name))
    keys = ('canvas', 'min_objects', 'max_objects', 'min_object_size', 'max_object_size', 'background',
            'background_kinds', 'scene_background_pool')
    return dict({k: cfg[k] for k in keys}, crop_scale=list(S.candidate(name)['scale']))


def pilot(args, records):
    import torch
    torch.set_num_threads(args.threads)
    from mmengine.logging import MMLogger
    from tqdm import tqdm

    import scl  # noqa: F401
    from scl.benchmarks.scene import arms as A
    from scl.benchmarks.scene import runs
    from scl.benchmarks.scene.evaluation import Evaluator, run_model_config
    MMLogger.get_instance('scene_data_search', log_level='WARNING')
    rec_path = osp.join(args.out, 'search_records.json')
    todo = [(n, s, w) for n in args.candidates for s in range(args.seeds) for w in ('random_init', ) + tuple(args.arms)
            if w not in records.get(n, {}).get('val', {}).get(str(s), {})]
    bar = tqdm(todo, desc='data v3 pilots', unit='arm-seed')
    evaluators = {}
    for name, seed, what in bar:
        bar.set_postfix_str(f'{name} seed {seed} {what}')
        out = osp.join(args.out, name)
        data = osp.join(out, 'data')
        S.ensure_candidate_data(data, name)
        if name not in evaluators:
            evaluators = {name: Evaluator(data, S.PILOT, split='train-holdout')}  # one candidate's data in memory
        ev = evaluators[name]
        t0 = time.time()
        if what == 'random_init':
            res = ev.random_init(A.config_path('mocov2'), seed)
        else:
            arm = S.pilot_arm(what, name)
            ckpt = runs.pretrain(out, seed, what, data, S.PILOT, arm=arm, threads=args.threads)
            wd = osp.join(runs.run_dir(out, seed, what), 'pretrain')
            res = ev.evaluate_checkpoint(run_model_config(A.config_path(what), wd), ckpt, own_source=arm.map_source,
                                         seed=seed)
            res['pretrain_s'] = runs.compute_seconds(wd)
        res['evaluate_s'] = round(time.time() - t0, 1)
        res['machine'] = machine(args.threads)  # what produced this record: commit, CPU, threads, versions
        with locked(rec_path):  # another invocation may have added records meanwhile
            records = S.load_records(rec_path) or records
            rec = records.setdefault(name, {})
            rec['settings'] = settings(name)
            rec.setdefault('val', {}).setdefault(str(seed), {})[what] = res
            rec['machine'] = machine(args.threads)
            S.save_records(rec_path, records)
        print(f'{name} seed {seed} {what}: linear {res["linear_top1"]:.2f}, 1 % {res["top1_1pct"]:.2f}, '
              f'10 % {res["top1_10pct"]:.2f}', flush=True)
    return records


def main(argv=None):
    args = parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    rec_path = osp.join(args.out, 'search_records.json')
    records = S.load_records(rec_path)
    if args.records_from:
        with open(args.records_from) as f:
            taken = S.records_from_results(json.load(f))
        for name, rec in taken.items():
            records.setdefault(name, {}).update({k: v for k, v in rec.items() if k not in records.get(name, {})})
        S.save_records(rec_path, records)
    if args.stage == 'screen':
        records = screen(args, records)
    elif args.stage == 'pilot':
        records = pilot(args, records)
    report_dir = args.report_dir or args.out
    os.makedirs(report_dir, exist_ok=True)
    results = S.summarise(records)
    atomic_write_json(osp.join(report_dir, 'search.json'), results, indent=1, finite=True)
    S.write_markdown(osp.join(report_dir, 'search.md'), results)
    print(f'wrote {report_dir}/search.json and search.md; chosen: {results["chosen"] and results["chosen"]["name"]}')
    return 0


if __name__ == '__main__':
    from scl.utils.errors import run_main
    sys.exit(run_main(main))
