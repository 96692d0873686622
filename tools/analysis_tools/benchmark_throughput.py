"""Where a scene-benchmark arm's time goes, measured in the real Runner with the real loader.

    python tools/analysis_tools/benchmark_throughput.py --data data/demo --iters 40 \\
        --json docs/benchmarks/throughput.json --markdown docs/benchmarks/throughput.md

For the SCL arm (Grad-CAM, saliency crops and weights) and the paired MoCo v2 arm (the same pipeline, independent
crops, no saliency), each with the scene benchmark's CPU preset (batch 32, queue 256, 64 px views, no loader
workers, the channels-last memory format unless ``--contiguous``) on ``--data`` (a build_scene_dataset folder; the
demo data has the benchmark's scene size):

- SCL's data path in its own Runner run (``--warmup`` + ``--iters`` iterations, no loader workers): each transform
  (decode, crop, each view augmentation, packing) and the per-sample stream seeding, per sample, beside the loader's
  whole wait and the rest of it (copies, dataset, sampler, collate);
- ``--iters`` Runner iterations (after ``--warmup``), alternating the two arms ``--rounds`` times: seconds per
  iteration, of which mmengine's ``data_time`` (waiting for the loader);
- the same iterations on batches pre-built in memory: ``train_step`` split into forward (the loss), backward,
  optimiser step and the saliency update written after the backward;
- saving one checkpoint.

Ratios: ``data_overhead`` = Runner seconds per iteration / pre-built seconds per iteration (SCL), and
``scl_over_mocov2`` = SCL / paired MoCo v2 seconds per iteration in the Runner (medians of the alternating rounds).
Everything runs in one process with ``--threads`` torch threads; the record names the machine and commit.
"""
import argparse
import json
import os.path as osp
import statistics
import sys
import tempfile
import time

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
ARMS = ('scl', 'mocov2_paired')


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--data', default='data/demo', help='a build_scene_dataset folder (scenes/train/*.png)')
    p.add_argument('--preset', default='cpu', help='the scene benchmark preset whose recipe is timed')
    p.add_argument('--iters', type=int, default=40, help='timed Runner iterations per arm and round')
    p.add_argument('--warmup', type=int, default=10,
                   help="untimed iterations first (allocator; the demo's 300 scenes all decoded and cached)")
    p.add_argument('--rounds', type=int, default=2, help='alternating rounds of the two arms')
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--workers', type=int, help="loader workers (default: the preset's)")
    p.add_argument('--contiguous', action='store_true',
                   help="train in the default memory format even where the preset asks for channels_last (to time "
                   "what the channels-last layout saves)")
    p.add_argument('--versus-v2', action='store_true',
                   help='also time the v2 way side by side: three arms of a seed pretrained together (--jobs 3, one '
                   'thread each, the pipeline before the fused colour jitter and the decoded-scene cache) against the '
                   'same arms with the new pipeline, one after another with --threads and together with one thread '
                   'each; wall and machine time per arm-seed')
    p.add_argument('--eval-s', type=float, default=139.0,
                   help='seconds of evaluation per arm-seed, added to both ways for speedup_vs_v2 (default: the '
                   'median of the committed v2 evaluation stages)')
    p.add_argument('--one-run', metavar='ARM', help=argparse.SUPPRESS)  # a subprocess of --versus-v2
    p.add_argument('--legacy-pipeline', action='store_true', help=argparse.SUPPRESS)
    p.add_argument('--json', help='write the figures here (e.g. docs/benchmarks/throughput.json)')
    p.add_argument('--markdown', help='write the table here (e.g. docs/benchmarks/throughput.md)')
    return p.parse_args(argv)


def arm_config(arm, data, preset, iters, work_dir, workers=None, contiguous=False):
    """The arm's pretraining config as the scene benchmark runs it, cut to ``iters`` iterations, no hooks that
    do not belong to training (no kNN checks, no pictures); ``contiguous``: without the preset's channels_last."""
    from mmengine.config import Config, DictAction

    from scl.benchmarks.scene import arms as A
    from scl.benchmarks.scene.runs import pretrain_options
    p = argparse.ArgumentParser()
    p.add_argument('--o', nargs='+', action=DictAction)
    cfg = Config.fromfile(A.config_path(arm))
    preset = dict(A.PRESETS[preset], **({} if workers is None else dict(workers=workers)))
    if contiguous:
        preset['channels_last'] = False
    cfg.merge_from_dict(p.parse_args(['--o'] + pretrain_options(arm, data, preset, 0)).o)
    cfg.custom_hooks = [h for h in cfg.get('custom_hooks', []) if h['type'] == 'SaliencyStoreHook']
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=iters)
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=10**9, by_epoch=False)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=10**9)
    cfg.work_dir, cfg.log_level = work_dir, 'WARNING'
    return cfg


class Timed:
    """A callable (a transform, a seeding function) that adds its wall time to ``totals[name]``."""

    def __init__(self, fn, name, totals):
        self.fn, self.name, self.totals = fn, name, totals

    def __call__(self, *args, **kwargs):
        t0 = time.perf_counter()
        try:
            return self.fn(*args, **kwargs)
        finally:
            self.totals[self.name] = self.totals.get(self.name, 0.0) + time.perf_counter() - t0


# Where the per-sample random streams are seeded outside a transform's own time: the dataset (the sample's stream)
# and the view wrapper (each view's). SaliencyCropTransform seeds its crop stream inside its own row.
SEEDING_MODULES = ('scl.datasets.scene_dataset', 'scl.datasets.transforms.wrappers')
SEEDING = 'stream seeding (sample, views)'
LOADER_WAIT = 'loader wait per sample (Runner)'
REST = 'rest of the loader wait'


def time_data_path(args, tmp):
    """SCL's data path timed inside the real Runner (keyed sampler, per-sample streams, saliency store; no loader
    workers, so that all of it runs in this process), after ``--warmup`` iterations (the scenes decoded and cached):
    seconds per sample of each leaf transform (views summed) and of the stream seeding, the loader's wait per sample
    (mmengine's data_time, mean / batch), and the rest of that wait (the view wrapper's copies, the dataset's
    bookkeeping, the sampler, the collate)."""
    import importlib

    from mmengine.hooks import Hook
    from mmengine.runner import Runner

    from scl.datasets.transforms import iter_transforms

    def is_wrapper(t):
        return any(hasattr(t, a) for a in ('transforms', 'pipeline', 'pipelines'))

    cfg = arm_config('scl', osp.abspath(args.data), args.preset, args.warmup + args.iters, osp.join(tmp, 'data'),
                     workers=0, contiguous=args.contiguous)
    runner = Runner.from_cfg(cfg)
    dataset = runner.train_loop.dataloader.dataset
    totals = {}
    # mmengine's and mmcv's Compose alike keep their transforms in a list. The leaves keep their identity (their
    # ``transform`` is timed in place): SaliencyStoreHook finds SaliencyCropTransform by its type to attach the store.
    for compose in [t for t in iter_transforms(dataset.pipeline) if isinstance(getattr(t, 'transforms', None), list)]:
        for t in compose.transforms:
            if not is_wrapper(t):
                t.transform = Timed(t.transform, type(t).__name__, totals)

    class StartTiming(Hook):
        def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
            if runner.iter + 1 == args.warmup:
                totals.clear()

    runner.register_hook(StartTiming(), priority='LOWEST')
    modules = [importlib.import_module(m) for m in SEEDING_MODULES]
    seeders = [m.seed_streams for m in modules]
    for m, fn in zip(modules, seeders):
        m.seed_streams = Timed(fn, SEEDING, totals)
    try:
        runner.train()
    finally:
        for m, fn in zip(modules, seeders):
            m.seed_streams = fn
    samples = args.iters * runner.train_loop.dataloader.batch_size
    out = {name: s / samples for name, s in totals.items()}
    waits = runner.message_hub.get_scalar('train/data_time').data[0][args.warmup:]
    out[LOADER_WAIT] = statistics.mean(waits) / runner.train_loop.dataloader.batch_size
    out[REST] = out[LOADER_WAIT] - sum(v for k, v in out.items() if k != LOADER_WAIT)
    return out


def runner_round(arm, args, tmp):
    """Seconds per iteration in the Runner (median), mmengine's data_time share, then the same model on batches
    pre-built in memory, split into its parts, and one checkpoint save."""
    from mmengine.runner import Runner
    cfg = arm_config(arm, osp.abspath(args.data), args.preset, args.warmup + args.iters, osp.join(tmp, arm),
                     args.workers, args.contiguous)
    runner = Runner.from_cfg(cfg)
    runner.train()
    hub = runner.message_hub
    times = hub.get_scalar('train/time').data[0][args.warmup:]
    data_times = hub.get_scalar('train/data_time').data[0][args.warmup:]
    out = dict(runner_s=statistics.median(times), data_wait_s=statistics.median(data_times))
    out.update(prebuilt_parts(runner, args))
    t0 = time.perf_counter()
    runner.save_checkpoint(runner.work_dir, 'timing.pth')
    out['checkpoint_s'] = time.perf_counter() - t0
    return out


def prebuilt_parts(runner, args):
    """``train_step`` on batches taken from the loader beforehand: its seconds per iteration (median) and, summed
    over the timed steps and divided by them, forward (the loss), backward, optimiser step and saliency update."""
    model, optim = runner.model, runner.optim_wrapper
    loader = iter(runner.train_dataloader)
    batches = [next(loader) for _ in range(min(args.iters, 8))]
    parts = dict(forward_s=0.0, backward_s=0.0, step_s=0.0, saliency_s=0.0)

    for obj, name, part in ((model, 'loss', 'forward_s'), (optim, 'backward', 'backward_s'), (optim, 'step', 'step_s'),
                            (model, 'apply_pending_saliency', 'saliency_s')):
        if hasattr(obj, name):
            setattr(obj, name, Timed(getattr(obj, name), part, parts))
    steps = []
    for i in range(args.warmup + args.iters):
        if i == args.warmup:
            parts.update({k: 0.0 for k in parts})
        t0 = time.perf_counter()
        model.train_step(batches[i % len(batches)], optim)
        steps.append(time.perf_counter() - t0)
    out = {k: v / args.iters for k, v in parts.items()}
    out['prebuilt_s'] = statistics.median(steps[args.warmup:])
    return out


def write_markdown(path, res):
    from scl.utils.fileio import atomic_write_text
    m, r, p = res['meta'], res['ratios'], res['pipeline']
    lines = ['# Benchmark throughput: where an arm-seed\'s time goes', '',
             f'Measured by `{m["command"]}` on {m["machine"]} (commit {m["commit"]}, {m["date"]}).'
             + (f' {m["note"]}' if m.get('note') else ''), '',
             '## Ratios', '', '| ratio | measured | goal |', '| --- | --- | --- |',
             f'| data_overhead (Runner / pre-built batches, SCL) | {r["data_overhead"]:.2f} | <= 1.10 |',
             f'| scl_over_mocov2 (Runner, paired MoCo v2 arm) | {r["scl_over_mocov2"]:.3f} | <= 1.05 |',
             *([f'| speedup_vs_v2 (arm-seed wall time, v2 way / new default) | {r["speedup_vs_v2"]:.2f} | >= 3 |']
               if 'speedup_vs_v2' in r else []),
             *([f'| machine time per arm-seed, v2 way / fastest new way | {r["machine_speedup_vs_v2"]:.2f} | - |']
               if 'machine_speedup_vs_v2' in r else []), '',
             '## One iteration (seconds, medians over the timed iterations and rounds)', '',
             '| part | ' + ' | '.join(ARMS) + ' |', '| --- | ' + ' | '.join('---' for _ in ARMS) + ' |']
    for key, label in (('runner_s', 'Runner iteration'), ('data_wait_s', 'of which waiting for the loader'),
                       ('prebuilt_s', 'train_step on pre-built batches'), ('forward_s', 'forward (loss)'),
                       ('backward_s', 'backward'), ('step_s', 'optimiser step'),
                       ('saliency_s', 'saliency update (after the backward)'), ('checkpoint_s', 'one checkpoint')):
        lines.append(f'| {label} | ' + ' | '.join(f'{res["arms"][a][key]:.4f}' for a in ARMS) + ' |')
    lines += ['', '## The data path (seconds per sample, SCL, in the Runner; views summed)', '', '| part | s |',
              '| --- | --- |']
    lines += [f'| {k} | {v:.5f} |' for k, v in p.items()]
    v2 = res.get('versus_v2')
    if v2:
        # records before the side-by-side ways were measured keep their two ways
        per_iter = v2.get('s_per_iter') or dict(v2_way=v2['v2_way_s_per_iter'],
                                                new_default=v2['new_default_s_per_iter'])
        ways = list(per_iter)
        wall = v2.get('arm_seed_wall_s') or dict(v2_way=v2['v2_way_arm_seed_s'],
                                                 new_default=v2['new_default_arm_seed_s'])
        lines += ['', '## The v2 way against the new pipeline (seconds per iteration in the Runner, same arms)', '',
                  f'v2 way: the {len(v2["arms"])} arms pretrained together, one thread each, with the pipeline v2 ran '
                  '(a PNG decode every visit, mmpretrain\'s ColorJitter); new default: the new pipeline (scenes '
                  'decoded once, the fused colour jitter), one arm after another with '
                  f'{m["machine_info"].get("threads", "")} threads'
                  + ('; new k side by side: the new pipeline, k arms together, one thread each' if len(ways) > 2
                     else '') + f'. An arm-seed is {v2["pretrain_iters"]} iterations plus {v2["eval_s"]:.0f} s of '
                  'evaluation (run alone). Wall time is what one arm-seed takes; machine time per arm-seed is what a '
                  'benchmark of many pays (runs side by side share the wall time).', '',
                  '| arm | ' + ' | '.join(w.replace('_', ' ') for w in ways) + ' |', '| --- |' + ' --- |' * len(ways)]
        lines += [f'| {a} | ' + ' | '.join(f'{per_iter[w][a]:.3f}' if a in per_iter[w] else '-' for w in ways)
                  + ' |' for a in v2['arms']]
        lines += ['| arm-seed wall time (s) | ' + ' | '.join(f'{wall[w]:.0f}' for w in ways) + ' |']
        if 'machine_s_per_arm_seed' in v2:
            lines += ['| machine time per arm-seed (s) | ' + ' | '.join(
                f'{v2["machine_s_per_arm_seed"][w]:.0f}' for w in ways) + ' |', '',
                f'Fastest new way for a benchmark: {v2["fastest_new_way"].replace("_", " ")}; machine time per '
                f'arm-seed, v2 way / it: {v2["machine_speedup_vs_v2"]:.2f}.']
    atomic_write_text(path, '\n'.join(lines) + '\n')


# The three arms one seed of benchmark v2 pretrained together with --jobs 3.
V2_WAY_ARMS = ('mocov2', 'scl', 'scl_crops_only')


def one_run(args):
    """Runner seconds per iteration (median) of one arm, for --versus-v2's subprocesses; prints JSON."""
    import torch
    from mmengine.runner import Runner

    import scl  # noqa: F401
    from scl.benchmarks.scene import arms as A
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        # the v2 way: v2's pipeline and the default memory format (v2 predates both)
        cfg = arm_config(args.one_run, osp.abspath(args.data), args.preset, args.warmup + args.iters, tmp,
                         args.workers, args.contiguous or args.legacy_pipeline)
        if args.legacy_pipeline and A.ARMS[args.one_run].config == 'scl':
            cfg.merge_from_dict(A.LEGACY_PIPELINE)
        runner = Runner.from_cfg(cfg)
        runner.train()
        times = runner.message_hub.get_scalar('train/time').data[0][args.warmup:]
    print(json.dumps(dict(arm=args.one_run, runner_s=statistics.median(times))))
    return 0


def versus_v2(args):
    """``speedup_vs_v2``: the arm-seed wall time of the v2 way (three arms together, one thread each, the legacy
    pipeline) over the new default (one after another, ``--threads`` each), same arms and iterations, plus
    ``--eval-s`` of evaluation in both."""
    import subprocess

    from scl.benchmarks.scene import arms as A

    def cmd(arm, threads, legacy):
        return [sys.executable, osp.abspath(__file__), '--one-run', arm, '--data', args.data, '--preset',
                args.preset, '--iters', str(args.iters), '--warmup', str(args.warmup), '--threads', str(threads)] + (
                    ['--legacy-pipeline'] if legacy else []) + (['--contiguous'] if args.contiguous else [])

    def env(threads):
        import os
        return dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))

    def result(text):
        return json.loads(text.strip().splitlines()[-1])['runner_s']

    def together(legacy, arms):
        procs = {a: subprocess.Popen(cmd(a, 1, legacy), env=env(1), stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True) for a in arms}
        out = {}
        for a, proc in procs.items():
            text, _ = proc.communicate()
            if proc.returncode:
                raise RuntimeError(f'the side-by-side run of {a} failed (exit {proc.returncode})')
            out[a] = result(text)
        return out

    ways = dict(v2_way=together(True, V2_WAY_ARMS),
                new_default={a: result(subprocess.run(cmd(a, args.threads, False), env=env(args.threads),
                                                      check=True, capture_output=True, text=True).stdout)
                             for a in V2_WAY_ARMS})
    for k in range(2, len(V2_WAY_ARMS) + 1):
        ways[f'new_{k}_side_by_side'] = together(False, V2_WAY_ARMS[:k])
    return compare_ways(ways, A.PRESETS[args.preset]['pretrain_iters'], args.eval_s)


def compare_ways(ways, n, eval_s):
    """Arm-seed times of the ways from their seconds per iteration (``{way: {arm: s}}``; the arms of a way ran side
    by side, one thread each, except ``new_default``'s, one after another): the wall time of one arm-seed (what one
    waits for) and the machine time per arm-seed (what a benchmark of many pays: k runs side by side share the wall
    time); ``n`` iterations each, then ``eval_s`` of evaluation run alone. ``speedup_vs_v2`` is the issue's ratio of
    wall times, v2 way / new default; ``machine_speedup_vs_v2`` the ratio of machine times, v2 way / the fastest new
    way."""
    side = {w: 1 if w == 'new_default' else len(t) for w, t in ways.items()}
    mean = {w: statistics.mean(t.values()) for w, t in ways.items()}
    wall = {w: mean[w] * n + eval_s for w in ways}
    machine = {w: mean[w] * n / side[w] + eval_s for w in ways}
    best = min((w for w in ways if w != 'v2_way'), key=machine.get)
    return dict(arms=list(V2_WAY_ARMS), ways=list(ways), s_per_iter=ways, side_by_side=side, pretrain_iters=n,
                eval_s=eval_s, arm_seed_wall_s=wall, machine_s_per_arm_seed=machine, fastest_new_way=best,
                v2_way_arm_seed_s=wall['v2_way'], new_default_arm_seed_s=wall['new_default'],
                speedup_vs_v2=wall['v2_way'] / wall['new_default'],
                machine_speedup_vs_v2=machine['v2_way'] / machine[best])


def main(argv=None):
    args = parse_args(argv)
    if args.one_run:
        return one_run(args)
    import torch
    from tqdm import tqdm

    import scl  # noqa: F401
    from scl.utils.errors import DataError
    from scl.utils.provenance import machine, machine_line
    if not osp.isdir(osp.join(args.data, 'scenes', 'train')):
        raise DataError(f'{args.data} has no scenes/train: build it with `python tools/dataset_converters/'
                        f'build_scene_dataset.py {args.data}`')
    torch.set_num_threads(args.threads)
    runs = {a: [] for a in ARMS}
    with tempfile.TemporaryDirectory() as tmp:
        for r, arm in tqdm([(r, a) for r in range(args.rounds) for a in ARMS], desc='throughput', unit='run'):
            runs[arm].append(runner_round(arm, args, osp.join(tmp, str(r))))
        pipeline = time_data_path(args, tmp)
    arms = {a: {k: statistics.median(r[k] for r in rounds) for k in rounds[0]} for a, rounds in runs.items()}
    ratios = dict(data_overhead=arms['scl']['runner_s'] / arms['scl']['prebuilt_s'],
                  scl_over_mocov2=arms['scl']['runner_s'] / arms['mocov2_paired']['runner_s'])
    v2 = versus_v2(args) if args.versus_v2 else None
    if v2:
        ratios['speedup_vs_v2'] = v2['speedup_vs_v2']
        ratios['machine_speedup_vs_v2'] = v2['machine_speedup_vs_v2']
    info = machine(args.threads)
    from scl.benchmarks.scene import arms as A
    workers = A.PRESETS[args.preset]['workers'] if args.workers is None else args.workers
    channels_last = bool(A.PRESETS[args.preset].get('channels_last')) and not args.contiguous
    command = 'python tools/analysis_tools/benchmark_throughput.py ' + ' '.join(
        argv if argv is not None else sys.argv[1:])
    res = dict(meta=dict(workers=workers, channels_last=channels_last, command=command,
                         date=time.strftime('%Y-%m-%d %H:%M'), commit=info['commit'], machine=machine_line(info),
                         machine_info=info),
               ratios=ratios, arms=arms, rounds=runs, pipeline=pipeline, versus_v2=v2)
    print(json.dumps(dict(ratios=ratios, arms=arms), indent=1))
    if args.json:
        from scl.utils.fileio import atomic_write_json
        atomic_write_json(args.json, res, indent=1, finite=True)
    if args.markdown:
        write_markdown(args.markdown, res)
    return 0


if __name__ == '__main__':
    from scl.utils.errors import run_main
    sys.exit(run_main(main))
