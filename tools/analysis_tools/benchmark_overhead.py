"""Measure SCL's overhead over MoCo v2 on the same config, in one run.

    python tools/analysis_tools/benchmark_overhead.py [--steps 30] [--out overhead.json]

1. Train-step time (data preprocessor, both encoders, loss, backward, SGD step, and for SCL the saliency update and
   store write) of the SCL demo config, once per saliency source (--sources), vs its MoCo v2 twin, on fixed pre-built
   batches, interleaved step by step so that machine noise hits all alike. Reported: median per-step times, their
   ratios (goal <= 1.05) and the saliency state each source keeps per step (memory).
2. Per-sample time of SCL's crop (SaliencyCropTransform: one anchor, both views, scores) vs MoCo's two independent
   RandomResizedCrops, on the same decoded images and output size (goal <= 1.2).
3. Bytes each GPU receives from collectives per step (all-gathers and broadcasts) for MoCo v2 and SCL at ResNet-50 /
   224 px / 8 x 32, computed from shapes (goal: SCL <= 1.01 x MoCo v2), and verified by counting them in a 2-process
   gloo run of a tiny model (measured must equal computed).
"""
import argparse
import os
import os.path as osp
import sys
import tempfile
import time

import numpy as np
import torch
from mmengine.config import Config

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SCL_CFG = osp.join(ROOT, 'configs/scl/scl_resnet18_1xb32-coslr-300i_demo.py')
MOCO_CFG = osp.join(ROOT, 'configs/mocov2/mocov2_resnet18_1xb32-coslr-300i_demo.py')


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--scl-config', default=SCL_CFG)
    p.add_argument('--moco-config', default=MOCO_CFG)
    p.add_argument('--steps', type=int, default=30, help='timed steps per method (after 3 warm-up steps)')
    p.add_argument('--batches', type=int, default=4, help='distinct pre-built batches cycled through')
    p.add_argument('--samples', type=int, default=300, help='samples timed per crop transform, x repeats')
    p.add_argument('--repeats', type=int, default=20, help='paired repeats; the ratio is their median')
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--sources', nargs='+', default=['activation', 'gradcam', 'dense_contrast'],
                   help="SCL's saliency sources to time against MoCo v2 (SCLAlgorithm.saliency_source; "
                   "'dense_contrast:N' scores N queue entries)")
    p.add_argument('--sections', nargs='+', choices=['gathered_bytes', 'crop', 'train_step'],
                   default=['gathered_bytes', 'crop', 'train_step'], help='which measurements to run')
    p.add_argument('--out', help='write the figures as JSON here')
    return p.parse_args()


def build(cfg_path, store_dir, source=None):
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import DATASETS, MODELS

    from scl.engine.hooks import attach_saliency_store
    from scl.saliency import SaliencyStore
    cfg = Config.fromfile(cfg_path)
    if source is not None:  # 'gradcam', or 'dense_contrast:1024' for a subsampled queue
        name, _, negatives = source.partition(':')
        cfg.model.saliency_source = name
        if negatives:
            cfg.model.dense_negatives = int(negatives)
    init_default_scope('mmpretrain')
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.train()
    if hasattr(model, 'saliency_store'):
        store = SaliencyStore.create(store_dir, len(dataset), grid_size=16)
        store.set_guided(True)  # time the guided regime, not the warm-up
        attach_saliency_store(dataset, store)
        model.saliency_store = store
    optim = build_optim_wrapper(model, cfg.optim_wrapper)
    return cfg, dataset, model, optim


def make_batches(dataset, batch_size, n, seed=0):
    from mmengine.dataset import default_collate
    rng = np.random.default_rng(seed)
    np.random.seed(seed)
    return [default_collate([dataset[int(i)] for i in rng.integers(0, len(dataset), batch_size)]) for _ in range(n)]


def time_train_steps(args):
    """Median train-step time of SCL with each saliency source and of MoCo v2, interleaved step by step."""
    with tempfile.TemporaryDirectory() as tmp:
        runs = {}
        arms = [(f'scl_{src}', args.scl_config, src) for src in args.sources] + [('mocov2', args.moco_config, None)]
        for name, path, source in arms:
            cfg, dataset, model, optim = build(path, osp.join(tmp, name), source)
            runs[name] = (model, optim, make_batches(dataset, cfg.train_dataloader.batch_size, args.batches))
        times = {name: [] for name in runs}
        for step in range(args.steps + 3):
            for name, (model, optim, batches) in runs.items():
                batch = batches[step % len(batches)]
                t0 = time.perf_counter()
                model.train_step(batch, optim)
                if step >= 3:
                    times[name].append(time.perf_counter() - t0)
        retained = {name: retained_saliency_bytes(model, batches[0]) for name, (model, _, batches) in runs.items()}
    med = {k: float(np.median(v)) for k, v in times.items()}
    out = dict(batch_size=cfg.train_dataloader.batch_size, steps=args.steps, mocov2_step_s=med['mocov2'],
               mocov2_step_s_iqr=[float(np.percentile(times['mocov2'], q)) for q in (25, 75)])
    for src in args.sources:
        name = f'scl_{src}'
        out[name] = dict(step_s=med[name], ratio=med[name] / med['mocov2'],
                         step_s_iqr=[float(np.percentile(times[name], q)) for q in (25, 75)],
                         retained_saliency_bytes=retained[name])
    return out


def retained_saliency_bytes(model, batch):
    """Bytes a step keeps for its saliency update beyond MoCo v2, from one step's shapes: per view, the N x h x w map
    (activation, dense_contrast) or the query feature map and its gradient (gradcam); dense_contrast also builds a
    transient N x h x w x min(K, 4096) block of location-to-queue scores."""
    source = getattr(model, 'saliency_source', None)
    if source is None:
        return dict(kept=0, transient=0)
    with torch.no_grad():
        data = model.data_preprocessor(batch, True)
        fmap = model.backbone(data['inputs'][0])[-1]  # N x C x h x w of one view
    n, c, h, w = fmap.shape
    kept = 2 * (2 * n * c * h * w * 4 if source == 'gradcam' else n * h * w * 4)
    negatives = min(model.queue_len, model.dense_negatives or model.queue_len, 4096)
    transient = n * h * w * negatives * 4 if source == 'dense_contrast' else 0
    return dict(kept=kept, transient=transient)


def time_crops(args):
    from mmpretrain.registry import TRANSFORMS

    from scl.saliency import SaliencyStore
    from scl.visualization import load_rgb
    scl_cfg = Config.fromfile(args.scl_config)
    from mmpretrain.registry import DATASETS
    dataset = DATASETS.build(dict(scl_cfg.train_dataloader.dataset, pipeline=[]))
    n = min(args.samples, len(dataset))
    images = [load_rgb(dataset.get_data_info(i)['img_path']) for i in range(n)]
    size = scl_cfg.view_size
    with tempfile.TemporaryDirectory() as tmp:
        store = SaliencyStore.create(tmp, len(dataset), grid_size=16)
        rng = np.random.default_rng(0)
        store.maps[:] = rng.random(store.maps.shape).astype(np.float16)  # a non-trivial anchor distribution
        store.set_guided(True)
        crop = TRANSFORMS.build(dict(type='SaliencyCropTransform', size=size, backend=scl_cfg.crop_backend))
        crop.store = store
        rrc = TRANSFORMS.build(dict(type='RandomResizedCrop', scale=size, crop_ratio_range=(0.2, 1.0),
                                    backend=scl_cfg.crop_backend))

        def run_scl():
            for i, img in enumerate(images):
                crop(dict(img=img, sample_idx=i))

        def run_rrc():
            for img in images:
                rrc(dict(img=img))
                rrc(dict(img=img))

        t = {'scl': [], 'rrc': []}
        np.random.seed(0)
        runs = (('scl', run_scl), ('rrc', run_rrc))
        for r in range(args.repeats):
            # Paired repeats in alternating order: a slow phase of the machine hits both members of a pair.
            for name, fn in (runs if r % 2 == 0 else runs[::-1]):
                t0 = time.perf_counter()
                fn()
                t[name].append((time.perf_counter() - t0) / n)
    med = {k: float(np.median(v)) for k, v in t.items()}
    ratios = np.array(t['scl']) / np.array(t['rrc'])
    return dict(samples=n, repeats=args.repeats, view_size=size, saliency_crop_us=med['scl'] * 1e6,
                two_random_resized_crops_us=med['rrc'] * 1e6, ratio=float(np.median(ratios)),
                ratio_iqr=np.percentile(ratios, [25, 75]).tolist())


def gathered_bytes(args):
    from scl.utils.dist_traffic import measure_step_traffic, step_traffic
    shapes = dict(batch=32, view_size=224, world=8, feat_dim=128, map_hw=(7, 7), grid_size=16)
    computed = {m: step_traffic(m, **shapes) for m in ('mocov2', 'scl')}
    check = measure_step_traffic(('mocov2', 'scl'), port=29500 + os.getpid() % 400)
    return dict(shapes=dict(shapes, map_hw=list(shapes['map_hw']), network='ResNet-50'), mocov2=computed['mocov2'],
                scl=computed['scl'], ratio=computed['scl']['total'] / computed['mocov2']['total'],
                verified_2_gloo_processes={m: dict(measured_per_rank=c['measured'], computed=c['expected'],
                                                   equal=all(b == c['expected'] for b in c['measured']))
                                           for m, c in check.items()})


def main():
    args = parse_args()
    torch.set_num_threads(args.threads)
    import scl  # noqa: F401
    from tqdm import tqdm
    results = {}
    # Crops before train steps: torch's OpenMP threads keep spinning for a while after the steps and would slow them.
    sections = [(n, f) for n, f in (('gathered_bytes', gathered_bytes), ('crop', time_crops),
                                    ('train_step', time_train_steps)) if n in args.sections]
    for name, fn in tqdm(sections, desc='benchmarks'):
        results[name] = fn(args)
    from scl.utils.provenance import machine
    results['machine'] = machine(args.threads)
    s, c, g = (results.get(k) for k in ('train_step', 'crop', 'gathered_bytes'))
    if s:
        for src in args.sources:
            r = s[f'scl_{src}']
            print(f"train step (batch {s['batch_size']}): SCL ({src}) {r['step_s'] * 1e3:.1f} ms, MoCo v2 "
                  f"{s['mocov2_step_s'] * 1e3:.1f} ms -> ratio {r['ratio']:.3f} (goal <= 1.05); saliency memory "
                  f"kept {r['retained_saliency_bytes']['kept'] / 1e6:.2f} MB, transient "
                  f"{r['retained_saliency_bytes']['transient'] / 1e6:.2f} MB")
    if c:
        print(f"crop per sample ({c['view_size']} px, 2 views): SaliencyCropTransform {c['saliency_crop_us']:.0f} us, "
              f"2 x RandomResizedCrop {c['two_random_resized_crops_us']:.0f} us -> ratio {c['ratio']:.3f} "
              f"(IQR {c['ratio_iqr'][0]:.3f}-{c['ratio_iqr'][1]:.3f}; goal <= 1.2)")
    if g:
        print(f"received through collectives per GPU per step (ResNet-50, 224 px, 8 x 32): MoCo v2 "
              f"{g['mocov2']['total'] / 1e6:.1f} MB, SCL {g['scl']['total'] / 1e6:.1f} MB -> ratio "
              f"{g['ratio']:.4f} (goal <= 1.01); 2-process gloo count equals the computation: "
              f"{all(v['equal'] for v in g['verified_2_gloo_processes'].values())}")
    if args.out:
        from scl.utils.fileio import atomic_write_json
        atomic_write_json(args.out, results, indent=2)
    return 0


if __name__ == '__main__':
    from scl.utils.errors import run_main
    sys.exit(run_main(main))
