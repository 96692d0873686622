"""Pretraining runs of the scene benchmark: ``tools/train.py`` in a subprocess, one work dir per seed and arm,
resumed from the last checkpoint when an earlier invocation was interrupted."""
import json
import os
import os.path as osp
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from scl.utils.fileio import atomic_write_text
from scl.utils.provenance import usable_cpus

from .arms import ARMS, config_path, repo_root


def run_dir(out, seed, arm, background='textures'):
    """``<out>/runs/seed<S>/<arm>`` (``runs_<background>`` for a stress variant's data)."""
    return osp.join(out, 'runs' if background == 'textures' else f'runs_{background}', f'seed{seed}', arm)


def final_checkpoint(out, seed, arm, preset, background='textures'):
    return osp.join(run_dir(out, seed, arm, background), 'pretrain', f'iter_{preset["pretrain_iters"]}.pth')


def knn_options(config, data, interval):
    """Point the config's KNNMonitorHook (if any) at the benchmark's labelled objects, every ``interval`` iters."""
    from mmengine.config import Config
    hooks = Config.fromfile(config).get('custom_hooks', [])
    return [opt for i, h in enumerate(hooks) if h['type'] == 'KNNMonitorHook'
            for opt in (f'custom_hooks.{i}.bank.data_root={data}/cls/', f'custom_hooks.{i}.query.data_root={data}/cls/',
                        f'custom_hooks.{i}.interval={interval}')]


def pretrain_options(arm, data, preset, seed):
    """The ``--cfg-options`` of one arm's pretraining (its name or an :class:`Arm`): the benchmark's data, length,
    checkpoints and seed, then the arm's own overrides."""
    arm = ARMS[arm] if isinstance(arm, str) else arm
    n = preset['pretrain_iters']
    every = max(1, n // preset['checkpoints'])
    cfg = config_path(arm)
    memory_format = ['model.channels_last=True'] if preset.get('channels_last') else []
    return [
        f'train_dataloader.dataset.data_root={data}/scenes/', f'train_dataloader.batch_size={preset["batch"]}',
        f'train_dataloader.num_workers={preset["workers"]}',
        f'train_dataloader.persistent_workers={preset["workers"] > 0}', f'optim_wrapper.optimizer.lr={preset["lr"]}',
        f'model.queue_len={preset["queue_len"]}',
        f'train_cfg.max_iters={n}', f'param_scheduler.0.T_max={n}', f'param_scheduler.0.end={n}',
        f'default_hooks.checkpoint.interval={every}', 'default_hooks.checkpoint.max_keep_ckpts=-1',
        f'randomness.seed={seed}', f'default_hooks.logger.interval={min(50, n)}'
    ] + memory_format + knn_options(cfg, data, every) + arm.overrides + variant_overrides(arm, preset)


def variant_overrides(arm, preset):
    """The crop scale of the preset's data variant (``preset['data_variant']``, a candidate of the data search), for
    both methods' views; nothing for the default data."""
    if not preset.get('data_variant'):
        return []
    from .data_search import candidate, scale_overrides
    return scale_overrides(arm, candidate(preset['data_variant'])['scale'])


def train(config, work_dir, options, log, resume=False, threads=None, progress=None, poll_s=5.0):
    """``tools/train.py config --work-dir work_dir --cfg-options ...`` in a subprocess (its output goes to ``log``,
    appended); ``resume`` continues from the work dir's last checkpoint; ``threads`` sets its OpenMP / MKL threads
    (default: inherited). ``progress`` (``(description, total iterations)``) shows a bar of the iterations the log
    reports, with an ETA."""
    cmd = [sys.executable, osp.join(repo_root(), 'tools', 'train.py'), config, '--work-dir', work_dir]
    cmd += (['--resume'] if resume else []) + ['--cfg-options'] + options
    env = None
    if threads:
        env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    os.makedirs(osp.dirname(osp.abspath(log)), exist_ok=True)
    with open(log, 'a') as f:
        f.write('$ ' + (f'OMP_NUM_THREADS={threads} ' if threads else '') + ' '.join(cmd) + '\n')
        f.flush()
        start = f.tell()  # the bar reads this run's lines only (an earlier, interrupted run may have logged further)
        proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, cwd=repo_root(), env=env)
        if progress is None:
            proc.wait()
        else:
            from tqdm import tqdm
            desc, total = progress
            with tqdm(total=total, desc=desc, unit='iter') as bar:
                while proc.poll() is None:
                    time.sleep(poll_s)
                    bar.update(max(0, min(total, logged_iter(log, start)) - bar.n))
    if proc.returncode != 0:
        with open(log) as f:
            tail = f.read()[-3000:]
        raise RuntimeError(f'pretraining failed (exit {proc.returncode}; log: {log}):\n{tail}')


KEY_FILE = 'cache_key.txt'  # in a run dir: the key (records.stage_key) of what it was started for


def checkpoint_loads(path):
    """Whether ``path`` is a checkpoint torch can read (a run killed while saving leaves one that is not)."""
    from scl.utils.checkpoint import read_checkpoint
    from scl.utils.errors import NotACheckpointError
    try:
        read_checkpoint(path)
        return True
    except (NotACheckpointError, FileNotFoundError):
        return False


def _run_key(rd):
    path = osp.join(rd, KEY_FILE)
    return open(path).read().strip() if osp.isfile(path) else None


def finished(out, seed, name, preset, background='textures', key=None):
    """Whether the run's final checkpoint exists, loads, and (with ``key``) was trained for that cache key."""
    final = final_checkpoint(out, seed, name, preset, background)
    rd = run_dir(out, seed, name, background)
    return osp.isfile(final) and (key is None or _run_key(rd) == key) and checkpoint_loads(final)


def _set_aside(path, why):
    """Rename ``path`` to ``<path>.<why>-<n>`` (never deleted: a person decides) and return the new name."""
    n = 0
    while osp.exists(f'{path}.{why}-{n}'):
        n += 1
    os.replace(path, f'{path}.{why}-{n}')
    return f'{path}.{why}-{n}'


def _repair_last_checkpoint(wd):
    """Point mmengine's ``last_checkpoint`` at the newest checkpoint of ``wd`` that loads, setting broken ones aside;
    remove it when none loads (the run then starts over)."""
    ckpts = sorted((int(m.group(1)), f) for f in os.listdir(wd) if (m := re.fullmatch(r'iter_(\d+)\.pth', f)))
    for _, f in reversed(ckpts):
        path = osp.join(wd, f)
        if checkpoint_loads(path):
            with open(osp.join(wd, 'last_checkpoint'), 'w') as fh:
                fh.write(path)
            return path
        _set_aside(path, 'broken')
    if osp.isfile(osp.join(wd, 'last_checkpoint')):
        os.remove(osp.join(wd, 'last_checkpoint'))
    return None


def pretrain(out, seed, name, data, preset, background='textures', arm=None, threads=None, key=None, progress=True):
    """Pretrain the arm ``name`` (or ``arm``, an :class:`Arm` run under that name) for one seed unless it is
    :func:`finished`; resume an interrupted run from its newest checkpoint that loads. With ``key`` (the stage's
    cache key), a run dir started for another key (another config, preset or data) is set aside
    (``<arm>.stale-<n>``) and the run starts over. ``progress``: a bar of its iterations with an ETA. Returns the
    final checkpoint."""
    arm = arm or ARMS[name]
    final = final_checkpoint(out, seed, name, preset, background)
    rd = run_dir(out, seed, name, background)
    if osp.isdir(rd) and key is not None and _run_key(rd) != key:
        print(f'{rd} was trained for another config, preset or data (cache key {_run_key(rd)}, now {key}): set '
              f'aside as {_set_aside(rd, "stale")}', flush=True)
    if finished(out, seed, name, preset, background, key):
        return final
    wd = osp.join(rd, 'pretrain')
    os.makedirs(rd, exist_ok=True)
    if key is not None:
        atomic_write_text(osp.join(rd, KEY_FILE), key + '\n')
    resume = osp.isdir(wd) and _repair_last_checkpoint(wd) is not None
    train(config_path(arm), wd, pretrain_options(arm, data, preset, seed), osp.join(rd, 'pretrain.log'), resume,
          threads, progress=(f'{name} seed {seed}', preset['pretrain_iters']) if progress else None)
    if not checkpoint_loads(final):
        raise RuntimeError(f'pretraining of {name} (seed {seed}) ended without a readable {final}')
    return final


_ITER = re.compile(r'Iter\(train\) \[\s*(\d+)/\d+\]')


def logged_iter(log, start=0):
    """The last training iteration an mmengine log file reports after byte ``start`` (0 if none, or no file)."""
    if not osp.isfile(log):
        return 0
    with open(log, 'rb') as f:
        f.seek(start)
        found = _ITER.findall(f.read().decode(errors='replace'))
    return int(found[-1]) if found else 0


def shared_threads(jobs, cpus=None):
    """OpenMP threads for every run of an invocation that pretrains up to ``jobs`` runs at a time: the CPUs shared
    out among ``jobs``, at least 1 each. The same for a run that happens to be left alone, so that every arm of a
    benchmark runs in one thread configuration (threads alone move losses in the third decimal)."""
    return max(1, (cpus or usable_cpus()) // max(1, jobs))


def pretrain_side_by_side(out, runs, datas, preset, jobs, threads=None, poll_s=10.0, keys=None):
    """Pretrain ``runs`` (``(background, seed, arm)`` triples; ``datas`` maps a background to its data directory) up
    to ``jobs`` at a time, each with ``threads`` OpenMP threads (default: :func:`shared_threads`). One small run leaves
    cores idle: on 2 cores two one-thread runs of the CPU preset side by side cost 20 % less machine time per
    arm-seed than one two-thread run after another (docs/benchmarks/throughput.md). A bar
    shows the iterations logged by all runs with an ETA. A failed run does not stop the others; the first failure is
    raised once all have ended. Returns the final checkpoints in ``runs``' order."""
    from tqdm import tqdm
    threads = threads or shared_threads(jobs)
    logs = [osp.join(run_dir(out, seed, arm, bg), 'pretrain.log') for bg, seed, arm in runs]
    start = [logged_iter(log) for log in logs]
    n = preset['pretrain_iters']
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(pretrain, out, seed, arm, datas[bg], preset, bg, threads=threads,
                               key=(keys or {}).get((bg, seed, arm)), progress=False) for bg, seed, arm in runs]
        with tqdm(total=n * len(runs), initial=sum(start), desc=f'pretraining {len(runs)} runs, {jobs} at a time',
                  unit='iter') as bar:
            while True:
                finished = all(f.done() for f in futures)
                done = sum(n if f.done() and not f.exception() else min(n, logged_iter(log))
                           for f, log in zip(futures, logs))
                bar.update(max(0, done - bar.n))
                if finished:
                    break
                time.sleep(poll_s)
    errors = [f.exception() for f in futures if f.exception()]
    if errors:
        raise errors[0]
    return [f.result() for f in futures]


def compute_seconds(work_dir):
    """Pretraining compute time of a work dir: the mean logged iteration time times the last logged iteration (robust
    to interruptions, unlike wall-clock differences); None without logs."""
    curve = logged_curve(work_dir, ('time', ))['time']
    return None if not curve else float(np.mean([t for _, t in curve]) * curve[-1][0])


# What the training step logs afresh at every logger record (the rest are hooks' metrics, repeated until they change).
STEP_SCALARS = ('loss', 'time', 'lr', 'weight_std')
# What the benchmark keeps of each run's log: the loss, the kNN monitor and the spread of SCL's loss weights.
CURVE_KEYS = ('loss', 'knn/top1', 'weight_std')


def logged_curve(work_dir, keys=('loss', 'knn/top1')):
    """``{key: [(iter, value), ...]}`` from an mmengine work dir's vis_data/scalars.json files (all its runs, a
    resumed run's later records winning); for hook metrics such as ``knn/top1`` only the records where the value
    changed."""
    found = {k: {} for k in keys}
    for root, _, files in sorted(os.walk(work_dir)):
        if 'scalars.json' in files:
            with open(osp.join(root, 'scalars.json')) as f:
                for line in f:
                    rec = json.loads(line)
                    for k in keys:
                        if k in rec and 'iter' in rec:
                            found[k][int(rec['iter'])] = float(rec[k])
    out = {k: sorted(v.items()) for k, v in found.items()}
    for k in keys:  # a hook's metric is logged again at every logger record until its next run: keep its runs
        if k not in STEP_SCALARS:
            out[k] = [p for i, p in enumerate(out[k]) if i == 0 or p[1] != out[k][i - 1][1]]
    return out
