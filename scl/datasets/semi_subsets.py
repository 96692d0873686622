"""Class-balanced, seeded label subsets for semi-supervised fine-tuning (1% / 10% protocols)."""
import os.path as osp

import numpy as np


def read_ann_file(path):
    """Read an mmpretrain ``<relative path> <label>`` annotation file."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'annotation file {path} does not exist')
    items = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 2 or not parts[1].lstrip('-').isdigit():
                raise ValueError(f'{path}:{n}: expected "<path> <label>", got {line.strip()!r}')
            items.append((parts[0], int(parts[1])))
    if not items:
        raise ValueError(f'annotation file {path} is empty')
    return items


def balanced_subset(items, percent, seed=0):
    """``percent`` % of ``items`` with (as nearly as possible) the same number per class, seeded, in input order.

    Every class keeps at least one sample. Raises ValueError for a percent outside (0, 100].
    """
    if not 0 < percent <= 100:
        raise ValueError(f'percent must be in (0, 100], got {percent}')
    labels = np.array([label for _, label in items])
    classes = np.unique(labels)
    total = max(len(classes), int(round(len(items) * percent / 100.0)))
    rng = np.random.default_rng(seed)
    base, extra = divmod(total, len(classes))
    bonus = set(rng.permutation(classes)[:extra].tolist())
    keep = []
    for c in classes:
        idx = np.flatnonzero(labels == c)
        k = min(len(idx), base + (1 if c in bonus else 0))
        keep += rng.choice(idx, size=max(1, k), replace=False).tolist()
    return [items[i] for i in sorted(keep)]


def from_simclr_list(items, names):
    """Keep the ``items`` whose file name is in a SimCLR subset list (e.g. ``n01558993_4751.JPEG`` per line)."""
    wanted = {osp.basename(n.strip()) for n in names if n.strip()}
    subset = [it for it in items if osp.basename(it[0]) in wanted]
    if len(subset) != len(wanted):
        missing = sorted(wanted - {osp.basename(p) for p, _ in subset})[:5]
        raise ValueError(f'{len(wanted) - len(subset)} files of the subset list are not in the annotation file, '
                         f'e.g. {missing}')
    return subset


def write_ann_file(path, items):
    with open(path, 'w') as f:
        f.write(''.join(f'{p} {label}\n' for p, label in items))
    return path


def subset_path(ann_file, percent):
    """``train.txt`` -> ``train_1percent.txt`` (the name the semi-supervised configs expect)."""
    stem, ext = osp.splitext(ann_file)
    return f'{stem}_{percent:g}percent{ext}'
