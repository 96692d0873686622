"""Localisation study: how well each saliency source finds the objects, for given checkpoints.

    python tools/analysis_tools/saliency_localisation.py --data data/scenes \
        --run mocov2 configs/mocov2/mocov2_resnet18_1xb32-coslr-300i_demo.py work_dirs/mocov2/iter_300.pth \
        --run scl configs/scl/scl_resnet18_1xb32-coslr-300i_demo.py work_dirs/scl/iter_300.pth \
        [--split val|train-holdout] [--num-scenes 100] [--grid 8] [--out work_dirs/localisation]

For every run and every source of ``SCLAlgorithm.saliency_source`` (activation, gradcam, dense_contrast: computed on
each whole scene as its own view, see ``scl.saliency.model_saliency``) it scores held-out scenes of the scene
builder with the localisation ratio (share of the map's mass on the object masks over their area share; 1.0 is a
uniform map) beside a centred Gaussian prior scored the same way, and beside the object masks pooled to S x S cells
(``--mask-sides``: what a map that knows the objects can score at the resolution of an S x S feature map).
``--split val`` uses the held-out val scenes (the test split of the scene benchmark); ``--split train-holdout`` the
last ``--num-scenes`` pretraining scenes, the validation split on which a default source is chosen. Writes
``localisation.json``, ``localisation.md`` and ``localisation_grid.png`` (scene | each run's sources | centre prior |
the two cue edits below) to ``--out``.

It also says which cue identifies a scene for each network (``scl.evaluation.cues``): top-1 retrieval among the scored
scenes of their objects pasted on a fresh background, and of their background with the objects painted over by
another fresh one (``--no-cues`` skips it). ``CHECKPOINT`` may be ``none``: the config's model, randomly initialised
(``--seed``), the anchor a trained network is read against.
"""
import argparse
import json
import os
import os.path as osp
import sys

import numpy as np


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--data', required=True, help='a scene-builder data root (scenes/, scenes/annotations/)')
    p.add_argument('--run', nargs=3, action='append', metavar=('NAME', 'CONFIG', 'CHECKPOINT'), required=True,
                   help='a checkpoint to study and the pretraining config that made it (repeatable)')
    p.add_argument('--split', choices=['val', 'train-holdout'], default='val')
    p.add_argument('--num-scenes', type=int, default=100)
    p.add_argument('--grid', type=int, default=8, help='side of the scored saliency grid')
    p.add_argument('--size', type=int, default=None, help="side the scenes are resized to (default: the config's "
                   'view size)')
    from scl.saliency import SOURCES, source_names
    p.add_argument('--sources', nargs='+', choices=source_names(study=True),
                   default=list(source_names(training=True, reads=('backbone', 'moco'))),
                   help='saliency sources (scl.saliency.sources; default: the model\'s own training sources): '
                   + '; '.join(f'{n}: {SOURCES[n].summary}' for n in source_names(study=True))
                   + ' (contracam: negatives are the other scenes of each batch of 32)')
    p.add_argument('--contracam-iters', type=int, default=1, help="ContraCAM's rounds of painting the found region "
                   'over and looking again (the maps of all rounds are united)')
    p.add_argument('--mask-sides', type=int, nargs='*', default=[2, 4, 8],
                   help='also score the object masks pooled to S x S cells (a map that knows the objects at the '
                   'resolution of an S x S feature map: 4 for the scene benchmark network (stride 16) on 64 px views)')
    p.add_argument('--no-cues', action='store_true', help='skip the objects-vs-background retrieval table')
    p.add_argument('--seed', type=int, default=0, help='initialisation seed of runs with checkpoint none')
    p.add_argument('--grid-rows', type=int, default=6, help='scenes shown in the picture')
    p.add_argument('--out', default='work_dirs/localisation')
    return p.parse_args(argv)


def render(path, images, columns, names):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    rows = len(images)
    fig, axes = plt.subplots(rows, len(columns) + 1, figsize=(1.9 * (len(columns) + 1), 1.9 * rows), squeeze=False)
    for r in range(rows):
        axes[r, 0].imshow(images[r])
        axes[r, 0].set_title(names[r], fontsize=7)
        for c, (title, maps) in enumerate(columns, start=1):
            if maps[r].ndim == 3:  # an image of its own (the cue edits)
                axes[r, c].imshow(maps[r])
            else:
                axes[r, c].imshow(images[r])
                axes[r, c].imshow(maps[r], cmap='jet', alpha=0.5,
                                  extent=(0, images[r].shape[1], images[r].shape[0], 0))
            if r == 0:
                axes[r, c].set_title(title, fontsize=7)
    for ax in axes.ravel():
        ax.axis('off')
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main(argv=None):
    args = parse_args(argv)
    import scl  # noqa: F401
    from tqdm import tqdm

    from mmengine.config import Config

    from scl.evaluation import (cell_mask_fraction, centre_prior, cue_images, cue_retrieval, fresh_backgrounds,
                                held_out_scenes, mean_localisation, pooled_mask_map, scene_union_masks, source_maps)
    from scl.evaluation.linear_probe import extract
    from scl.utils.checkpoint import load_model
    ann, names, images = held_out_scenes(args.data, args.split, args.num_scenes)
    union = scene_union_masks(ann)
    fractions = [cell_mask_fraction(union[n], args.grid) for n in names]
    prior = centre_prior(args.grid)
    results = dict(split=args.split, num_scenes=len(names), grid=args.grid, uniform=1.0,
                   centre_prior=mean_localisation([prior] * len(names), fractions), runs={},
                   pooled_masks={str(s): mean_localisation([pooled_mask_map(union[n], s, args.grid) for n in names],
                                                           fractions) for s in args.mask_sides})
    if not args.no_cues:
        side = images[0].shape[0]
        scenes, masks = np.stack(images), np.stack([union[n] for n in names])
        fresh = fresh_backgrounds(args.data, 2 * len(names), side, seed=args.seed)
        results['cues'] = {}
    columns = []
    for name, cfg_path, ckpt in tqdm(args.run, desc='runs'):
        cfg = Config.fromfile(cfg_path)
        model = load_model(cfg, None if ckpt == 'none' else ckpt, seed=args.seed)
        size = args.size or cfg.get('view_size', 224)
        results['runs'][name] = dict(config=cfg_path, checkpoint=ckpt)
        if not args.no_cues:
            results['cues'][name] = cue_retrieval(lambda x: extract(model, x, size), scenes, masks,
                                                  fresh[:len(names)], fresh[len(names):])
        for source in args.sources:
            maps = source_maps(model, images, size, args.grid, source, contracam_iters=args.contracam_iters)
            results['runs'][name][source] = mean_localisation(maps, fractions)
            columns.append((f'{name}: {source}\n{results["runs"][name][source]:.2f}', maps[:args.grid_rows]))
    columns.append((f'centre prior\n{results["centre_prior"]:.2f}', [prior] * args.grid_rows))
    if not args.no_cues:
        edits = cue_images(scenes[:args.grid_rows], masks[:args.grid_rows], fresh[:args.grid_rows],
                           fresh[len(names):len(names) + args.grid_rows])
        columns += [('cue: objects\n(fresh background)', edits['objects']),
                    ('cue: background\n(objects painted over)', edits['background'])]
    os.makedirs(args.out, exist_ok=True)
    with open(osp.join(args.out, 'localisation.json'), 'w') as f:
        json.dump(results, f, indent=2)
    lines = [f'Localisation ratio on {len(names)} {args.split} scenes (grid {args.grid}; uniform = 1.00, centre prior '
             f'= {results["centre_prior"]:.3f})', '', '| run | ' + ' | '.join(args.sources) + ' |',
             '|---|' + '---|' * len(args.sources)]
    for name, r in results['runs'].items():
        lines.append(f'| {name} | ' + ' | '.join(f'{r[s]:.3f}' for s in args.sources) + ' |')
    if results['pooled_masks']:
        lines += ['', 'What a map that knows the objects scores with only S x S cells (the masks pooled to S x S, '
                  'resampled like the model maps):', '', '| S | ' + ' | '.join(results['pooled_masks']) + ' |',
                  '|---|' + '---|' * len(results['pooled_masks']),
                  '| score | ' + ' | '.join(f'{v:.3f}' for v in results['pooled_masks'].values()) + ' |']
    if results.get('cues'):
        lines += ['', f'Which cue identifies a scene: top-1 retrieval among the {len(names)} scenes (chance '
                  f'{1 / len(names):.3f}) of its objects on a fresh background, and of its background with the objects '
                  'painted over by another fresh one (pooled backbone features):', '',
                  '| run | objects | background |', '|---|---|---|']
        lines += [f'| {name} | {c["objects"]:.2f} | {c["background"]:.2f} |' for name, c in results['cues'].items()]
    with open(osp.join(args.out, 'localisation.md'), 'w') as f:
        f.write('\n'.join(lines) + '\n')
    render(osp.join(args.out, 'localisation_grid.png'), images[:args.grid_rows], columns, names[:args.grid_rows])
    print('\n'.join(lines))
    print(f'wrote {args.out}/localisation.json, localisation.md, localisation_grid.png')
    return 0


if __name__ == '__main__':
    from scl.utils.errors import run_main
    sys.exit(run_main(main))
