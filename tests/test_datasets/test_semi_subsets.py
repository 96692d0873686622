import numpy as np
import pytest

from scl.datasets.semi_subsets import balanced_subset, from_simclr_list, read_ann_file, subset_path


def items(n_per_class=100, classes=10):
    return [(f'c{c}/img_{c}_{i}.png', c) for c in range(classes) for i in range(n_per_class)]


@pytest.mark.parametrize('pct,expected', [(1, 10), (10, 100), (100, 1000), (0.5, 10)])  # >= 1 per class
def test_balanced_and_sized(pct, expected):
    sub = balanced_subset(items(), pct, seed=0)
    assert len(sub) == expected
    counts = np.bincount([label for _, label in sub], minlength=10)
    assert counts.max() - counts.min() <= 1 and len(set(sub)) == len(sub)


def test_at_least_one_per_class_and_seeded():
    a, b, c = (balanced_subset(items(), 1, seed=s) for s in (0, 0, 1))
    assert a == b and a != c
    assert len({label for _, label in balanced_subset(items(), 0.1)}) == 10


def test_simclr_list_conversion():
    it = items()
    sub = from_simclr_list(it, ['img_3_7.png\n', 'img_9_0.png\n', '\n'])
    assert sub == [('c3/img_3_7.png', 3), ('c9/img_9_0.png', 9)]
    with pytest.raises(ValueError, match='not in the annotation file'):
        from_simclr_list(it, ['nope.png'])


def test_read_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_ann_file(str(tmp_path / 'x.txt'))
    (tmp_path / 'bad.txt').write_text('a.png\n')
    with pytest.raises(ValueError, match='bad.txt:1'):
        read_ann_file(str(tmp_path / 'bad.txt'))
    assert subset_path('meta/train.txt', 1) == 'meta/train_1percent.txt'
    with pytest.raises(ValueError, match='percent'):
        balanced_subset(items(), 0)
