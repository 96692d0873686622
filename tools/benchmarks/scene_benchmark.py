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
docs/benchmarks/scene/v3/results.json`` takes the committed run's finished stages and runs only the rest (a stage is
taken only under the same cache key: the preset values it depends on, its resolved config and the data's content
fingerprint, ``scl.benchmarks.scene.records.stage_key``; the anchors survive a longer pretraining schedule).
``--evaluate-only`` scores what has finished and pretrains nothing (e.g. while another invocation pretrains);
invocations sharing ``--out`` merge records.json stage by stage and skip the stages another one has finished.
With the cpu preset the arms pretrain side by side, one per core (``--jobs``, default: the cores, at most 4; the
CPUs shared out, the same threads for every arm), and each batch is evaluated as soon as it ends: on 2 cores two
one-thread runs side by side cost 20 % less machine time per arm-seed than one two-thread run after another
(docs/benchmarks/throughput.md). ``--jobs 1`` runs them one after another. Writes
results.json (``summary``: validity, anchors, paired differences with 95 % t-intervals, goal), results.md, PNGs and
zoo_table.md (the model zoo pages' table) to ``--report-dir`` (default ``--out``), with a progress bar and ETA.
"""
import argparse
import sys

from scl.benchmarks.scene import arms as A
from scl.benchmarks.scene import data as D


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--out', required=True, help='working directory (data, runs, records.json)')
    p.add_argument('--report-dir', help='where results.json / results.md / PNGs go (default: --out)')
    p.add_argument('--seeds', type=int, default=3, help='number of seeds (0, 1, ...)')
    p.add_argument('--preset', choices=sorted(A.PRESETS), default='cpu')
    p.add_argument('--arms', nargs='+', choices=list(A.ARMS),
                   help='the arms to run (default: those of --arm-set)')
    p.add_argument('--arm-set', choices=list(A.ARM_SETS), default='v2',
                   help='v2: the committed benchmark (differences against mmpretrain\'s MoCo v2); v3: every arm paired '
                   'with MoCo v2 in SCL\'s pipeline, the oracle and the spectral-residual control, mmpretrain\'s MoCo '
                   'v2 on seed 0 only')
    p.add_argument('--stress', choices=[b for b in D.BACKGROUNDS if b != 'textures'],
                   help='also run MoCo v2 and SCL on this background mode')
    p.add_argument('--stress-seeds', type=int, default=1)
    p.add_argument('--data', help='scene data directory for the default backgrounds (default: <out>/data)')
    from scl.benchmarks.scene.data_search import CANDIDATES
    p.add_argument('--data-variant', choices=list(CANDIDATES), default='v2',
                   help='the scene data by name (scl.benchmarks.scene.data_search.CANDIDATES: scene settings and '
                   "both methods' crop scale; v2, the default, is the committed benchmark's data). Recorded in the "
                   "data's meta.json and in every arm's cache key; use its own --out")
    p.add_argument('--evaluate-only', action='store_true', help='score finished runs; pretrain nothing')
    p.add_argument('--report-only', action='store_true', help='write the report from records.json; run nothing')
    p.add_argument('--threads', type=int, default=2, help='torch threads for the evaluation')
    p.add_argument('--jobs', type=int,
                   help='pretrain up to this many runs side by side, each with the CPUs shared out (at least one '
                   'thread each), and evaluate each batch as it ends (default: one per core, at most 4, for the cpu '
                   'preset; 1 otherwise)')
    p.add_argument('--notes', help='a markdown file appended to results.md under "Discussion"')
    p.add_argument('--records-from', metavar='RESULTS_JSON',
                   help="an earlier run's results.json (e.g. the committed docs/benchmarks/scene/v3/results.json): its "
                   "stages count as done where their cache key (the preset values they depend on, the resolved config, "
                   "the data's fingerprint) is unchanged and they were scored at its probe size, so a machine without "
                   "that run's checkpoints continues it")
    args = p.parse_args(argv)
    if args.arms is None:
        args.arms = list(A.ARM_SETS[args.arm_set])
    if args.jobs is not None and args.jobs < 1:
        p.error(f'--jobs must be at least 1, got {args.jobs}')
    return args


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    args.argv = argv
    from scl.benchmarks.scene.benchmark import run_benchmark
    return run_benchmark(args)


if __name__ == '__main__':
    from scl.utils.errors import run_main
    sys.exit(run_main(main))
