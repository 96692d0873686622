"""Statistics and reports of the scene benchmark: paired differences with t-intervals, the validity check,
results.json, results.md and the plots."""
import numpy as np

# The benchmark can measure only when MoCo v2 is this far above random initialisation (issue 10).
VALIDITY = dict(linear_top1=10.0, top1_1pct=5.0)
# The question it answers: SCL - MoCo v2 at least this much, with a 95 % interval that excludes 0.
GOAL = dict(linear_top1=1.0, top1_1pct=3.0)


def paired_interval(a, b, level=0.95):
    """Mean of the paired differences ``a[i] - b[i]`` and its two-sided t-interval.

    Returns ``dict(mean, low, high, n, diffs)``; with one pair the interval is unbounded (``-inf``, ``inf``): one
    seed gives no interval.
    """
    from scipy import stats
    d = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    if d.ndim != 1 or len(d) == 0:
        raise ValueError(f'need one or more paired values, got shapes {np.shape(a)} and {np.shape(b)}')
    mean = float(d.mean())
    if len(d) < 2:
        low, high = -float('inf'), float('inf')
    else:
        half = float(stats.t.ppf(0.5 + level / 2, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d)))
        low, high = mean - half, mean + half
    return dict(mean=mean, low=low, high=high, n=int(len(d)), diffs=[float(x) for x in d])


def validity(mocov2, random_init, margins=VALIDITY):
    """Whether MoCo v2 beats random initialisation by the margins (means over seeds), per metric and overall."""
    out = {}
    for k, margin in margins.items():
        gap = float(np.mean(mocov2[k]) - np.mean(random_init[k]))
        out[k] = dict(gap=gap, margin=margin, met=bool(gap >= margin))
    out['valid'] = all(v['met'] for v in out.values())
    return out
