"""The scene benchmark's run: which stages to run, what counts as done, each stage's pretraining and scoring, and the
report. ``tools/benchmarks/scene_benchmark.py`` parses the command line and calls :func:`run_benchmark`."""
import json
import os
import os.path as osp
import time
from itertools import islice

import numpy as np

from scl.utils.errors import ConfigError
from scl.utils.fileio import atomic_write_json, atomic_write_text
from scl.utils.provenance import usable_cpus
from . import arms as A
from . import data as D
from . import report as R
from . import runs
from .records import load_records, merge_records, scored_at, stage_key, sync_records


DEFAULT_VARIANT = 'v2'  # the data search's name of the benchmark's own data


def stages(seeds, arms, stress=None, stress_seeds=1):
    """(background, seed, what) in run order; ``what`` is an arm, 'random_init' or 'supervised' (seed 0 only, as
    are :func:`~scl.benchmarks.scene.arms.reference_arms`). The supervised anchor (about an hour of CPU, and no
    paired difference needs it) comes after every seed's arms, so that a run cut short has whole paired seeds."""
    out, reference = [], A.reference_arms(arms)
    for seed in range(seeds):
        out += [('textures', seed, 'random_init')] + [('textures', seed, a) for a in arms
                                                       if seed == 0 or a not in reference]
    if seeds:
        out.append(('textures', 0, 'supervised'))
    if stress:
        for seed in range(stress_seeds):
            out += [(stress, seed, w) for w in ('random_init', 'mocov2', 'scl')]
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


# The CPU preset's machine seconds per arm-seed (pretraining and evaluation), as the throughput tool measured them.
SIDE_BY_SIDE_MEASURED = '2 cores (2026-12-08, channels-last): one run after another with 2 threads, 3045 s of ' \
    'machine time per arm-seed; two side by side with one thread each, 2445 s; three, 2522 s ' \
    '(docs/benchmarks/throughput.md)'


def default_jobs(preset_name, cpus=None):
    """Runs pretrained side by side unless ``--jobs`` says otherwise: one per core (at most 4) for the CPU preset,
    where a single small run leaves cores idle; one at a time for the others (the GPU preset's run fills its GPU, the
    smoke preset is for tests)."""
    return max(1, min(4, cpus or usable_cpus())) if preset_name == 'cpu' else 1


def warn_oversubscribed(jobs, n_runs, cpus=None):
    """Say what running more pretraining runs side by side than there are CPU cores costs (measured)."""
    cpus = cpus or usable_cpus()
    side_by_side = min(jobs, n_runs)
    if side_by_side > cpus:
        print(f'note: --jobs {jobs} runs {side_by_side} pretrainings side by side on {cpus} CPU cores, one thread '
              f'each. Measured on {SIDE_BY_SIDE_MEASURED}: more runs than cores cost no more machine time, but each '
              f'arm-seed takes longer to finish (records land later); --jobs {cpus} is as fast.')
    return side_by_side > cpus


class SceneBenchmark:
    """One invocation of the benchmark over a working directory: its records, data and stages.

    Args:
        args (argparse.Namespace): The tool's arguments (``out``, ``preset``, ``arms``, ``seeds``, ``stress``, ...),
            with ``argv`` the command line they came from.
    """

    def __init__(self, args):
        self.args = args
        self.preset = dict(A.PRESETS[args.preset])
        variant = getattr(args, 'data_variant', None)
        if variant and variant != DEFAULT_VARIANT:  # in every arm's cache key; the default keeps v2's keys
            if args.stress:
                raise ConfigError('--data-variant and --stress cannot be combined: the variants are of the texture '
                                  'backgrounds')
            self.preset['data_variant'] = variant
        self.out = osp.abspath(args.out)
        self.report_dir = osp.abspath(args.report_dir or self.out)
        os.makedirs(self.out, exist_ok=True)
        os.makedirs(self.report_dir, exist_ok=True)
        self.rec_path = osp.join(self.out, 'records.json')
        self.state = load_records(self.rec_path)
        self.mine = set()  # the stages this invocation finished or took: what it writes over the records file
        self.datas = {'textures': osp.abspath(args.data or D.data_dir(self.out, 'textures'))}
        if args.stress:
            self.datas[args.stress] = D.data_dir(self.out, args.stress)
        self.metas = {} if args.report_only else {
            bg: self.ensure_data(path, bg) for bg, path in self.datas.items()}
        self.keys, self.evaluators = {}, {}
        self.jobs = getattr(args, 'jobs', None) or default_jobs(args.preset)
        self.threads = runs.shared_threads(self.jobs)  # every arm of this invocation pretrains with these

    def ensure_data(self, path, background):
        """The data of this run: the preset's scene data, or its data variant's (a data search candidate at the
        preset's sizes, its name recorded in meta.json)."""
        variant = self.preset.get('data_variant')
        if variant:
            from .data_search import ensure_candidate_data
            return ensure_candidate_data(path, variant, self.preset)
        return D.ensure_data(path, self.preset, background)

    @property
    def recs(self):
        return self.state['records']

    def stages(self):
        a = self.args
        return stages(a.seeds, a.arms, a.stress, a.stress_seeds)

    def key(self, bg, what):
        """The stage's cache key (:func:`~scl.benchmarks.scene.records.stage_key`) on this run's data."""
        if (bg, what) not in self.keys:
            self.keys[(bg, what)] = stage_key(what, self.preset, self.metas[bg]['fingerprint'])
        return self.keys[(bg, what)]

    def done(self, bg, seed, what):
        rec = self.recs.get(bg, {}).get(str(seed), {}).get(what)
        return scored_at(rec, self.preset['probe_size']) and rec.get('cache_key') == self.key(bg, what)

    def unpretrained(self, bg, seed, what):
        return what in A.ARMS and not runs.finished(self.out, seed, what, self.preset, bg, self.key(bg, what))

    def save(self):
        sync_records(self.rec_path, self.state, self.mine)

    def take_records(self, path):
        """Take the finished stages of an earlier results.json whose cache keys still hold; say what was not taken."""
        with open(path) as f:
            taken, left = merge_records(self.state, json.load(f), self.args.preset, self.preset,
                                        key_of=self.key if self.metas else None)
        self.mine.update((bg, int(seed), what) for bg, seed, what in taken)
        print(f'--records-from {path}: {len(taken)} finished stage(s) taken')
        for (bg, seed, what), reasons in sorted(left.items()):
            print(f'  not taken ({", ".join(reasons)} changed since): {bg} seed {seed} {what}')
        self.save()  # what was taken is this run's from now on

    def run(self):
        """Run every stage that is not done, then report. With ``jobs`` > 1 the arms are pretrained ``jobs`` at a time
        (the next unpretrained ones in run order, one thread each on 2 cores) and each batch is evaluated as soon as
        it ends, so records land every batch."""
        from tqdm import tqdm
        args = self.args
        if args.records_from:
            self.take_records(args.records_from)
        todo = [] if args.report_only else [s for s in self.stages() if not self.done(*s)]
        side_by_side = self.jobs > 1 and not args.evaluate_only
        if side_by_side:
            warn_oversubscribed(self.jobs, len([s for s in todo if self.unpretrained(*s)]))
        bar = tqdm(todo, desc='scene benchmark', unit='stage')
        for i, (bg, seed, what) in enumerate(bar):
            bar.set_postfix_str(f'{bg} seed {seed} {what}')
            sync_records(self.rec_path, self.state, self.mine, write=False)
            if self.done(bg, seed, what):  # another invocation in this working directory finished it meanwhile
                continue
            if args.evaluate_only and self.unpretrained(bg, seed, what):
                continue
            if side_by_side and self.unpretrained(bg, seed, what):
                batch = list(islice((s for s in todo[i:] if not self.done(*s) and self.unpretrained(*s)), self.jobs))
                runs.pretrain_side_by_side(self.out, batch, self.datas, self.preset, self.jobs, self.threads,
                                           keys={(b, s, w): self.key(b, w) for b, s, w in batch})
            self.run_stage(bg, seed, what)
        bar.close()
        self.write_report()

    def evaluator(self, bg):
        from .evaluation import Evaluator
        if bg not in self.evaluators:
            self.evaluators[bg] = Evaluator(self.datas[bg], self.preset)
        return self.evaluators[bg]

    def run_stage(self, bg, seed, what):
        """Pretrain (an arm) and score one stage; record its figures, curve and wall times, and save."""
        from .evaluation import run_model_config
        ev = self.evaluator(bg)
        slot = self.recs.setdefault(bg, {}).setdefault(str(seed), {})
        walls = self.state['wall_times_s'].setdefault(bg, {}).setdefault(str(seed), {})
        slot['centre_prior'] = ev.centre_prior
        t0 = time.time()
        if what == 'random_init':
            slot[what] = ev.random_init(A.config_path('mocov2'), seed)
        elif what == 'supervised':
            slot[what] = ev.supervised(A.config_path('mocov2'), seed)
        else:
            ckpt = runs.pretrain(self.out, seed, what, self.datas[bg], self.preset, bg, threads=self.threads,
                                 key=self.key(bg, what))
            t0 = time.time()  # the evaluation's own time (pretraining is counted from its logs below)
            wd = osp.join(runs.run_dir(self.out, seed, what, bg), 'pretrain')
            slot[what] = ev.evaluate_checkpoint(run_model_config(A.config_path(what), wd), ckpt,
                                                own_source=A.ARMS[what].map_source, seed=seed, keep_maps=6)
            np.savez(osp.join(runs.run_dir(self.out, seed, what, bg), 'val_saliency.npz'), **slot[what].pop('maps'))
            self.state['curves'].setdefault(bg, {}).setdefault(str(seed), {})[what] = runs.logged_curve(
                wd, runs.CURVE_KEYS)
            walls[f'{what}/pretrain'] = runs.compute_seconds(wd)
        walls[f'{what}/evaluate'] = round(time.time() - t0, 1)
        slot[what]['cache_key'] = self.key(bg, what)
        self.mine.add((bg, seed, what))
        self.save()

    def results_meta(self, arms, complete):
        """results.json's ``meta``: the command, preset, arms and their overrides, data, machine and wall times."""
        from scl.utils.provenance import library_versions, machine_line
        args = self.args
        meta_file = osp.join(self.datas['textures'], 'meta.json')
        data_meta = json.load(open(meta_file)) if osp.isfile(meta_file) else {}
        seconds = {bg: {s: sum(v for v in w.values() if v) for s, w in by_seed.items()}
                   for bg, by_seed in self.state['wall_times_s'].items()}
        return dict(
            command=' '.join(['python', 'tools/benchmarks/scene_benchmark.py'] + figure_args(args.argv)),
            preset=args.preset, preset_values=self.preset, arms=arms, complete=complete,
            configs={a: A.CONFIGS[A.ARMS[a].config] for a in arms},
            overrides={a: A.ARMS[a].overrides for a in arms},
            background_mode='textures', stress=args.stress,
            data=dict(config=data_meta.get('config'), background=data_meta.get('background'),
                      variant=self.preset.get('data_variant', DEFAULT_VARIANT)),
            versions=library_versions(), machine=machine_line(),
            wall_time_s=round(sum(sum(v.values()) for v in seconds.values()), 1),
            seconds_per_seed=seconds)

    def write_report(self):
        """results.json, results.md, zoo_table.md and the plots, in ``--report-dir``."""
        args, recs, report_dir = self.args, self.recs, self.report_dir
        arms = [a for a in args.arms if any(a in v for v in recs.get('textures', {}).values())]
        labels = {a: A.ARMS[a].label for a in A.ARMS}
        summary = R.summarise(recs, arms)
        summary['weight_spread'] = R.weight_spread(self.state['curves'].get('textures', {}), arms,
                                                   self.preset['pretrain_iters'])
        complete = all('linear_top1' in recs.get(bg, {}).get(str(s), {}).get(w, {}) for bg, s, w in self.stages())
        summary['complete'] = complete
        meta = self.results_meta(arms, complete)
        curves = self.state['curves']
        results = dict(summary=summary, meta=meta, per_seed=recs.get('textures', {}),
                       stress={args.stress: recs.get(args.stress, {})} if args.stress else {},
                       curves=curves, wall_times_s=self.state['wall_times_s'])
        atomic_write_json(osp.join(report_dir, 'results.json'), results, indent=1, finite=True)
        notes = open(args.notes).read() if args.notes else None
        R.write_markdown(osp.join(report_dir, 'results.md'), recs, summary, arms, labels, meta, args.stress, notes)
        # for the model zoo pages (configs/*/README.md)
        atomic_write_text(osp.join(report_dir, 'zoo_table.md'),
                          '\n'.join(R.zoo_table(recs, summary, arms, labels)) + '\n')
        if arms:
            R.plot_results(osp.join(report_dir, 'results.png'), recs, arms, labels)
            R.plot_deltas(osp.join(report_dir, 'deltas.png'), summary, labels)
            R.plot_curves(osp.join(report_dir, 'curves.png'), curves.get('textures', {}), arms, labels)
            self.plot_saliency(arms, labels, summary)
        print(json.dumps({k: v for k, v in summary.items() if k not in ('paired_deltas', 'validity')}, indent=1))
        print(f'wrote {report_dir}/results.json, results.md and the plots')

    def plot_saliency(self, arms, labels, summary):
        """saliency_grid.png: seed 0's maps of each arm's own source on held-out scenes, beside the centre prior."""
        columns = []
        for a in arms:
            f = osp.join(runs.run_dir(self.out, 0, a), 'val_saliency.npz')
            if osp.isfile(f):
                src = A.ARMS[a].map_source
                loc = self.recs['textures']['0'][a].get('localisation')
                columns.append((f'{labels[a][:28]}\n{src} {loc:.2f}', np.load(f)[src]))
        if columns:
            from scl.evaluation import centre_prior, held_out_scenes
            _, _, images = held_out_scenes(self.datas['textures'], 'val', 6)
            columns.append((f'centre prior {summary["localisation_centre_prior"]:.2f}',
                            [centre_prior(columns[0][1].shape[-1])] * 6))
            R.plot_saliency_grid(osp.join(self.report_dir, 'saliency_grid.png'), images, columns)


def run_benchmark(args):
    """Run the benchmark the tool's ``args`` describe (torch threads set from ``args.threads``)."""
    import torch
    from mmengine.logging import MMLogger

    import scl  # noqa: F401
    torch.set_num_threads(args.threads)
    MMLogger.get_instance('scene_benchmark', log_level='WARNING')
    SceneBenchmark(args).run()
    return 0
