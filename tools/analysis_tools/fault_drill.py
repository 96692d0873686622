"""Fault drill: run each fault a run can meet on tiny data and record what happened.

    python tools/analysis_tools/fault_drill.py --out work_dirs/fault_drill \\
        --json docs/reliability/faults.json --markdown docs/reliability.md

Faults: a short last batch in an epoch-based config (COCO layout, 2 loader workers), ``kill -9`` after a checkpoint
and ``--resume`` (compared with the run that was never interrupted: final weights, saliency store, logged losses),
a corrupt training image, a NaN saliency map, a kill in the middle of a records write, a changed config under a
cached benchmark run, a file that is not a checkpoint, a missing data root. Each row says what is expected, what
happened, pass / fail and the seconds it took; a row that fails is written as it is.
"""
import argparse
import json
import os
import os.path as osp
import shutil
import signal
import subprocess
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SCL_DEMO = 'configs/scl/scl_resnet18_1xb32-coslr-300i_demo.py'
COCO = 'configs/scl_r50_coco.py'


def tiny_options(data, iters=8, workers=0, checkpoint=4):
    """--cfg-options that shrink the demo config: the tiny scenes, batch 4, a 16-wide ResNet-18, 32 px views."""
    return [f'train_dataloader.dataset.data_root={data}/scenes/', 'train_dataloader.dataset.data_prefix=train',
            'train_dataloader.batch_size=4', f'train_dataloader.num_workers={workers}',
            f'train_dataloader.persistent_workers={workers > 0}', 'model.queue_len=64',
            'model.backbone.base_channels=16', 'model.neck.in_channels=128', 'model.neck.hid_channels=64',
            'train_dataloader.dataset.pipeline.1.size=32', f'train_cfg.max_iters={iters}',
            f'param_scheduler.0.T_max={iters}', f'param_scheduler.0.end={iters}',
            f'default_hooks.checkpoint.interval={checkpoint}', 'default_hooks.checkpoint.max_keep_ckpts=-1',
            'default_hooks.logger.interval=1', 'custom_hooks.0.grid_size=8', 'custom_hooks.0.warmup_epochs=0.25',
            # versions of the maps every iteration, 5 late: iterations 6-8 read maps that hold updates
            'custom_hooks.0.snapshot_every=1', 'custom_hooks.0.snapshot_lag=5',
            f'custom_hooks.2.bank.data_root={data}/cls/', f'custom_hooks.2.query.data_root={data}/cls/',
            'custom_hooks.2.num_bank=40', 'custom_hooks.2.num_query=20', f'custom_hooks.2.interval={iters}',
            'randomness.seed=0']


def train_cmd(config, work_dir, options, resume=False):
    return [sys.executable, 'tools/train.py', config, '--work-dir', work_dir] + (['--resume'] if resume else []) + [
        '--cfg-options'] + options


def run(cmd, env=None, timeout=600):
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          env=dict(os.environ, **(env or {})))


def last_line(proc):
    lines = proc.stderr.strip().splitlines()
    return lines[-1] if lines else ''


def one_line_error(proc, needle):
    """(passed, what happened) for a tool that must stop with ``error: ...needle...`` as its last line, status 2."""
    line = last_line(proc)
    ok = proc.returncode == 2 and line.startswith('error: ') and needle in line and 'Traceback' not in proc.stderr
    return ok, f'exit {proc.returncode}; last line: {line[:200]}'


# -- the faults ------------------------------------------------------------------------------------------------------
def short_last_batch(out, data):
    """COCO config, epoch-based, 10 images, batch 4 (every epoch ends on a short batch), 3 epochs, 2 workers."""
    coco = osp.join(out, 'coco')
    os.makedirs(osp.join(coco, 'train2017'), exist_ok=True)
    for name in sorted(os.listdir(osp.join(data, 'scenes', 'train')))[:10]:
        shutil.copy(osp.join(data, 'scenes', 'train', name), osp.join(coco, 'train2017', name))
    opts = [f'train_dataloader.dataset.data_root={coco}/', 'train_dataloader.batch_size=4',
            'train_dataloader.num_workers=2', 'model.queue_len=64', 'model.backbone.depth=18',
            'model.backbone.base_channels=16', 'model.neck.in_channels=128', 'model.neck.hid_channels=64',
            'train_dataloader.dataset.pipeline.1.size=32', 'train_cfg.max_epochs=3', 'custom_hooks.0.warmup_epochs=1',
            'custom_hooks.0.grid_size=8', 'default_hooks.checkpoint.interval=3']
    proc = run(train_cmd(COCO, osp.join(out, 'coco_run'), opts))
    ok = proc.returncode == 0 and osp.isfile(osp.join(out, 'coco_run', 'epoch_3.pth'))
    return ok, f'exit {proc.returncode}; ' + ('3 epochs of 2 full batches, short batches dropped' if ok
                                             else last_line(proc)[:200])


def kill9_resume(out, data, workers=2):
    """Kill -9 after the checkpoint of iteration 4, --resume, compare with an uninterrupted run."""
    import numpy as np
    import torch
    opts = tiny_options(data, iters=8, workers=workers, checkpoint=4)
    whole, cut = osp.join(out, 'uninterrupted'), osp.join(out, 'killed')
    proc = run(train_cmd(SCL_DEMO, whole, opts))
    if proc.returncode:
        return False, f'the uninterrupted run failed: {last_line(proc)[:200]}'
    p = subprocess.Popen(train_cmd(SCL_DEMO, cut, opts), cwd=ROOT, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 300
    while time.time() < deadline and not osp.isfile(osp.join(cut, 'iter_4.pth')):
        time.sleep(0.2)
    time.sleep(0.5)  # into iteration 5
    os.killpg(p.pid, signal.SIGKILL)
    p.wait()
    if osp.isfile(osp.join(cut, 'iter_8.pth')):
        return False, 'the run finished before it could be killed'
    proc = run(train_cmd(SCL_DEMO, cut, opts, resume=True))
    if proc.returncode:
        return False, f'resume failed: {last_line(proc)[:200]}'
    a, b = (torch.load(osp.join(d, 'iter_8.pth'), map_location='cpu') for d in (whole, cut))
    weights = max(float((a['state_dict'][k].float() - b['state_dict'][k].float()).abs().max())
                  for k in a['state_dict'] if a['state_dict'][k].is_floating_point())
    store = float(np.abs(np.load(osp.join(whole, 'saliency_store', 'rank0', 'maps.npy')).astype(np.float64)
                         - np.load(osp.join(cut, 'saliency_store', 'rank0', 'maps.npy'))).max())
    losses = [logged_losses(d) for d in (whole, cut)]
    common = sorted(set(losses[0]) & set(losses[1]) & set(range(5, 9)))
    loss = max((abs(losses[0][i] - losses[1][i]) for i in common), default=float('nan'))
    ok = weights == 0 and store == 0 and loss == 0
    return ok, (f'{workers} loader workers; resumed at iteration 4; max |difference| at iteration 8: weights '
                f'{weights:.3g}, store {store:.3g}, logged losses of iterations 5-8 {loss:.3g}')


def kill9_resume_no_workers(out, data):
    """As :func:`kill9_resume`, with the data loaded in the training process."""
    return kill9_resume(out, data, workers=0)


def logged_losses(work_dir):
    found = {}
    for root, _, files in os.walk(work_dir):
        if 'scalars.json' in files:
            with open(osp.join(root, 'scalars.json')) as f:
                for line in f:
                    rec = json.loads(line)
                    if 'loss' in rec:
                        found[int(rec['iter'])] = float(rec['loss'])
    return found


def corrupt_image(out, data):
    bad = osp.join(out, 'corrupt')
    for sub in ('scenes', 'cls'):
        shutil.copytree(osp.join(data, sub), osp.join(bad, sub))
    target = osp.join(bad, 'scenes', 'train', sorted(os.listdir(osp.join(bad, 'scenes', 'train')))[0])
    with open(target, 'r+b') as f:
        f.truncate(40)
    proc = run(train_cmd(SCL_DEMO, osp.join(out, 'corrupt_run'), tiny_options(bad, iters=12)))
    return one_line_error(proc, 'cannot read training image')


def nan_map(out, data):
    """Two steps of SCL whose Grad-CAM maps are all NaN: nothing reaches the store or the loss, and it is counted."""
    code = f'''
import numpy as np, torch, scl
from unittest import mock
import scl.models.selfsup.scl as S
from mmengine.config import Config
from mmengine.runner import Runner
from mmengine.config import DictAction
cfg = Config.fromfile({SCL_DEMO!r})
cfg.merge_from_dict({{k: DictAction._parse_iterable(v)
                     for k, v in (o.split('=', 1) for o in {tiny_options(data, iters=4)!r})}})
cfg.work_dir = {osp.join(out, 'nan_run')!r}
nan = lambda a, g: torch.full(a.shape[:1] + a.shape[2:], float('nan'))
with mock.patch.object(S, 'contrastive_gradcam', nan):
    runner = Runner.from_cfg(cfg)
    runner.train()
store = runner.model.saliency_store
print('RESULT', runner.model.invalid_maps, bool(np.isfinite(store.maps[:]).all()), float(store.maps[:].min()))
'''
    proc = run([sys.executable, '-c', code])
    line = next((x for x in proc.stdout.splitlines() if x.startswith('RESULT')), None)
    if proc.returncode or line is None:
        return False, f'exit {proc.returncode}: {last_line(proc)[:200]}'
    _, invalid, finite, low = line.split()
    ok = int(invalid) > 0 and finite == 'True'
    return ok, f'{invalid} NaN view maps counted and not written; store finite: {finite}; training finished'


def kill_during_write(out, data):
    path = osp.join(out, 'records.json')
    with open(path, 'w') as f:
        json.dump(dict(old=True), f)
    code = ('import os, time\nfrom scl.utils.fileio import atomic_write_text\n'
            'def stall(fd):\n    print("writing", flush=True)\n    time.sleep(60)\n'
            f'os.fsync = stall\natomic_write_text({path!r}, "x" * 10_000_000)\n')
    p = subprocess.Popen([sys.executable, '-c', code], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    p.stdout.readline()
    p.kill()
    p.wait()
    with open(path) as f:
        ok = json.load(f) == dict(old=True)
    return ok, 'killed with the new content written to a temporary file: ' + ('the old file is intact' if ok
                                                                              else 'the file changed')


def changed_config_cached(out, data):
    """A cached benchmark run under another cache key (another config, preset or data) is set aside, not reused."""
    from scl.benchmarks.scene import arms as A
    from scl.benchmarks.scene import runs
    from scl.benchmarks.scene.records import stage_key
    preset = dict(A.PRESETS['smoke'], pretrain_iters=2, checkpoints=1, batch=4, queue_len=64, workers=0)
    bench = osp.join(out, 'bench')
    key = stage_key('mocov2', preset, 'data-a')
    first = runs.pretrain(bench, 0, 'mocov2', data, preset, key=key)
    stamp = os.stat(first).st_mtime_ns
    again = runs.pretrain(bench, 0, 'mocov2', data, preset, key=key)
    reused = os.stat(again).st_mtime_ns == stamp
    changed = stage_key('mocov2', dict(preset, lr=0.02), 'data-a')
    runs.pretrain(bench, 0, 'mocov2', data, preset, key=changed)
    aside = osp.isdir(runs.run_dir(bench, 0, 'mocov2') + '.stale-0')
    ok = reused and aside and key != changed
    return ok, (f'same key: {"reused" if reused else "trained again"}; lr changed: cache key {key} -> {changed}, '
                f'old run {"set aside and trained anew" if aside else "REUSED"}')


def not_a_checkpoint(out, data):
    import numpy as np
    path = osp.join(out, 'features.npy')
    np.save(path, np.zeros((3, 4)))
    proc = run([sys.executable, 'tools/test.py', SCL_DEMO, path, '--work-dir', osp.join(out, 'test_run'),
                '--cfg-options', f'test_dataloader.dataset.data_root={data}/cls/',
                f'train_dataloader.dataset.data_root={data}/scenes/'])
    return one_line_error(proc, 'not a checkpoint: ')


def missing_data_root(out, data):
    proc = run(train_cmd(SCL_DEMO, osp.join(out, 'missing_run'),
                         [f'train_dataloader.dataset.data_root={out}/nowhere/']))
    return one_line_error(proc, 'does not exist')


FAULTS = [
    ('short last batch', 'the epoch-based COCO config trains across epochs whose length the batch does not divide',
     short_last_batch),
    ('kill -9 and --resume', 'final weights, store and logged losses equal to the uninterrupted run (bit-exact)',
     kill9_resume),
    ('kill -9 and --resume, no loader workers', 'the same, with the data loaded in the training process',
     kill9_resume_no_workers),
    ('corrupt image', "one line: 'error: cannot read training image ...', exit 2", corrupt_image),
    ('NaN saliency map', 'never reaches the store or the loss; counted', nan_map),
    ('kill during a write', 'the old records file intact', kill_during_write),
    ('changed config under a cached result', 'the cached run is not reused', changed_config_cached),
    ('file that is not a checkpoint', "one line: 'error: not a checkpoint: PATH (...)', exit 2", not_a_checkpoint),
    ('missing data root', "one line: 'error: image folder ... does not exist: ...', exit 2", missing_data_root),
]


def write_markdown(path, rows, meta):
    lines = ['# Reliability: the fault drill', '',
             f'Generated by `{meta["command"]}` on {meta["date"]} ({meta["machine"]}, commit {meta["commit"]}). '
             'Each fault is run on tiny scene data; a failing row is published as it is.', '',
             '| fault | expected | what happened | result | seconds |', '|---|---|---|---|---|']
    for r in rows:
        cells = [r['fault'], r['expected'], r['observed'], 'pass' if r['passed'] else 'FAIL', f'{r["seconds"]:.1f}']
        lines.append('| ' + ' | '.join(c.replace('|', '\\|') for c in cells) + ' |')
    notes = osp.join(osp.dirname(path), 'reliability_notes.md')
    if osp.isfile(notes):
        lines += ['', open(notes).read().rstrip()]
    from scl.utils.fileio import atomic_write_text
    atomic_write_text(path, '\n'.join(lines) + '\n')


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--out', required=True, help='scratch folder (emptied first)')
    p.add_argument('--json', help='write the rows here (e.g. docs/reliability/faults.json)')
    p.add_argument('--markdown', help='write the table here (e.g. docs/reliability.md)')
    p.add_argument('--only', nargs='+', choices=[f[2].__name__ for f in FAULTS], help='run only these faults')
    args = p.parse_args(argv)
    from tqdm import tqdm

    import scl  # noqa: F401
    from scl.datasets.scene_builder import SceneConfig, build_scene_dataset
    shutil.rmtree(args.out, ignore_errors=True)
    os.makedirs(args.out)
    out = osp.abspath(args.out)
    data = osp.join(out, 'data')
    build_scene_dataset(data, SceneConfig(num_train=24, num_val=6, canvas=64, min_object_size=12, max_object_size=24,
                                          num_cls_train=60, num_cls_test=30, seed=0))
    rows = []
    faults = [f for f in FAULTS if not args.only or f[2].__name__ in args.only]
    for name, expected, fn in tqdm(faults, desc='fault drill', unit='fault'):
        t0 = time.time()
        folder = osp.join(out, fn.__name__)
        os.makedirs(folder)
        try:
            passed, observed = fn(folder, data)
        except Exception as e:  # noqa: BLE001 (a drill row records whatever happened)
            passed, observed = False, f'{type(e).__name__}: {str(e).strip().splitlines()[-1][:200]}'
        observed = observed.replace(out, '<out>')  # the scratch folder, not this machine's path
        rows.append(dict(fault=name, expected=expected, observed=observed, passed=bool(passed),
                         seconds=round(time.time() - t0, 1)))
        print(f'{"pass" if passed else "FAIL"}  {name}: {observed}', flush=True)
    from scl.utils.provenance import machine, machine_line
    info = machine()
    meta = dict(command='python tools/analysis_tools/fault_drill.py ' + ' '.join(argv or sys.argv[1:]),
                date=time.strftime('%Y-%m-%d'), commit=info['commit'], machine=machine_line(info))
    if args.json:
        from scl.utils.fileio import atomic_write_json
        atomic_write_json(args.json, dict(meta=meta, faults=rows), indent=1)
    if args.markdown:
        write_markdown(args.markdown, rows, meta)
    print(f'{sum(r["passed"] for r in rows)} passed, {sum(not r["passed"] for r in rows)} failed')
    return 0 if all(r['passed'] for r in rows) else 1


if __name__ == '__main__':
    from scl.utils.errors import run_main
    sys.exit(run_main(main))
