"""Pretraining runs of the scene benchmark: ``tools/train.py`` in a subprocess, one work dir per seed and arm,
resumed from the last checkpoint when an earlier invocation was interrupted."""
import json
import os
import os.path as osp
import subprocess
import sys

from .arms import ARMS, config_path, repo_root


def run_dir(out, seed, arm):
    return osp.join(out, 'runs', f'seed{seed}', arm)


def final_checkpoint(out, seed, arm, preset):
    return osp.join(run_dir(out, seed, arm), 'pretrain', f'iter_{preset["pretrain_iters"]}.pth')


def knn_options(config, data):
    """Point the config's KNNMonitorHook (if any) at the benchmark's labelled objects."""
    from mmengine.config import Config
    hooks = Config.fromfile(config).get('custom_hooks', [])
    i = next((i for i, h in enumerate(hooks) if h['type'] == 'KNNMonitorHook'), None)
    return [] if i is None else [f'custom_hooks.{i}.bank.data_root={data}/cls/',
                                 f'custom_hooks.{i}.query.data_root={data}/cls/']


def pretrain_options(arm, data, preset, seed):
    """The ``--cfg-options`` of one arm's pretraining: the benchmark's data, length, checkpoints and seed, then the
    arm's own overrides."""
    n = preset['pretrain_iters']
    every = max(1, n // preset['checkpoints'])
    cfg = config_path(arm)
    return [
        f'train_dataloader.dataset.data_root={data}/scenes/', f'train_dataloader.batch_size={preset["batch"]}',
        f'train_cfg.max_iters={n}', f'param_scheduler.0.T_max={n}', f'param_scheduler.0.end={n}',
        f'default_hooks.checkpoint.interval={every}', 'default_hooks.checkpoint.max_keep_ckpts=-1',
        f'randomness.seed={seed}', f'default_hooks.logger.interval={min(50, n)}'
    ] + [f'custom_hooks.{i}.interval={every}' for i in _knn_index(cfg)] + knn_options(cfg, data) + ARMS[arm].overrides


def _knn_index(config):
    from mmengine.config import Config
    return [i for i, h in enumerate(Config.fromfile(config).get('custom_hooks', [])) if h['type'] == 'KNNMonitorHook']


def train(config, work_dir, options, log, resume=False):
    """``tools/train.py config --work-dir work_dir --cfg-options ...`` in a subprocess (its output goes to ``log``,
    appended); ``resume`` continues from the work dir's last checkpoint."""
    cmd = [sys.executable, osp.join(repo_root(), 'tools', 'train.py'), config, '--work-dir', work_dir]
    cmd += (['--resume'] if resume else []) + ['--cfg-options'] + options
    os.makedirs(osp.dirname(osp.abspath(log)), exist_ok=True)
    with open(log, 'a') as f:
        f.write('$ ' + ' '.join(cmd) + '\n')
        f.flush()
        proc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, cwd=repo_root())
    if proc.returncode != 0:
        with open(log) as f:
            tail = f.read()[-3000:]
        raise RuntimeError(f'pretraining failed (exit {proc.returncode}; log: {log}):\n{tail}')


def pretrain(out, seed, arm, data, preset):
    """Pretrain one arm for one seed unless its final checkpoint exists; resume an interrupted run. Returns the final
    checkpoint."""
    final = final_checkpoint(out, seed, arm, preset)
    if osp.isfile(final):
        return final
    wd = osp.join(run_dir(out, seed, arm), 'pretrain')
    resume = osp.isfile(osp.join(wd, 'last_checkpoint'))
    train(config_path(arm), wd, pretrain_options(arm, data, preset, seed), osp.join(run_dir(out, seed, arm),
                                                                                      'pretrain.log'), resume)
    if not osp.isfile(final):
        raise RuntimeError(f'pretraining of {arm} (seed {seed}) ended without {final}')
    return final


def logged_curve(work_dir, keys=('loss', 'knn/top1')):
    """``{key: [(iter, value), ...]}`` from an mmengine work dir's vis_data/scalars.json files (all its runs, a
    resumed run's later records winning)."""
    found = {k: {} for k in keys}
    for root, _, files in sorted(os.walk(work_dir)):
        if 'scalars.json' in files:
            with open(osp.join(root, 'scalars.json')) as f:
                for line in f:
                    rec = json.loads(line)
                    for k in keys:
                        if k in rec and 'iter' in rec:
                            found[k][int(rec['iter'])] = float(rec[k])
    return {k: sorted(v.items()) for k, v in found.items()}
