"""The scene benchmark's records: which stages (an arm, or an anchor, of a seed) are finished, under which cache key,
merged safely between invocations that share a working directory.

A stage's figures are reused only while what they depend on is unchanged: :func:`stage_key` hashes the preset values
the stage reads, its resolved config (the arm's config file with its overrides; the anchors' model) and the content
fingerprint of the data (meta.json). records.json is read and written under a lock, and replaced atomically.
"""
import hashlib
import json
import os.path as osp

from scl.utils.errors import ConfigError

from scl.utils.fileio import atomic_write_json, locked

from . import arms as A


SECTIONS = ('records', 'curves', 'wall_times_s')  # what records.json holds, each {background: {seed: {key: ...}}}


def load_records(path):
    if osp.isfile(path):
        with open(path) as f:
            return json.load(f)
    return {k: {} for k in SECTIONS}


def sync_records(path, state, mine, write=True):
    """Merge ``state`` with the records file at ``path`` as it is now: the stages this invocation finished (``mine``,
    ``(background, seed, what)`` triples) from ``state``, every other stage from the file, so that invocations sharing
    a working directory (one pretraining with ``--jobs``, another ``--evaluate-only`` or pretraining other arms) never
    drop each other's records. Updates ``state`` in place; with ``write``, writes the merge back atomically (an
    interruption never leaves a half-written file)."""
    with locked(path):  # a read-modify-write: another invocation waits, and neither drops the other's stages
        _merge_into(path, state, mine, write)


def _merge_into(path, state, mine, write):
    disk = load_records(path)
    for bg, seed, what in mine:
        for section in SECTIONS:
            slot = state[section].get(bg, {}).get(str(seed), {})
            for k, v in slot.items():  # a stage writes its own key, '<what>/...' times, and its seed's centre prior
                if k == what or k.startswith(what + '/') or (section == 'records' and k == 'centre_prior'):
                    disk.setdefault(section, {}).setdefault(bg, {}).setdefault(str(seed), {})[k] = v
    for section in SECTIONS:
        state[section].clear()
        state[section].update(disk.get(section, {}))
    if write:
        atomic_write_json(path, {k: state[k] for k in SECTIONS}, indent=1)


def scored_at(rec, probe_size):
    """Whether a stage's record is finished and probed at ``probe_size`` (records before v2.1 carry none: 32 px)."""
    return isinstance(rec, dict) and 'linear_top1' in rec and rec.get('probe_size', 32) == probe_size


def merge_records(state, results, preset_name, preset, key_of=None):
    """Take the stages of an earlier run's results.json that ``state`` lacks: those of the same preset name whose
    inputs (``arms.stage_keys``: e.g. the random-initialisation anchor reads the data and the probe, not the
    pretraining schedule) have the same values, scored at this preset's probe size, with their curves and times.
    With ``key_of`` (``(background, stage) -> cache key``, :func:`stage_key`), a record is taken only when it carries
    that key (its config and data are unchanged too). Returns ``(taken, left)``: the (background, seed, stage)
    triples taken, and ``{triple: reasons}`` for the finished stages left to be run again: the preset values they
    depend on that changed, or ``'cache key'``."""
    meta = results.get('meta', {})
    if meta.get('preset') != preset_name:
        raise ConfigError(f"--records-from: that run used preset {meta.get('preset')!r}, this one {preset_name!r}; its "
                         "figures cannot be mixed with this run's")
    now, then = json.loads(json.dumps(preset)), meta.get('preset_values', {})  # as results.json holds it
    changed = {k for k in set(now) | set(then) if then.get(k) != now.get(k)}
    probe_size = preset['probe_size']
    by_bg = dict(textures=results.get('per_seed', {}), **results.get('stress', {}))
    taken, left = [], {}
    for bg, by_seed in by_bg.items():
        for seed, slot in by_seed.items():
            for what, rec in slot.items():
                if what in state['records'].get(bg, {}).get(seed, {}) or not scored_at(rec, probe_size):
                    continue  # this run's own record wins; an unfinished or older-probe one is run again
                stale = sorted(changed.intersection(A.stage_keys(what, now)))
                if not stale and key_of is not None and rec.get('cache_key') != key_of(bg, what):
                    stale = ['cache key']
                if stale:
                    left[(bg, seed, what)] = stale
                    continue
                mine = state['records'].setdefault(bg, {}).setdefault(seed, {})
                mine[what] = rec
                mine.setdefault('centre_prior', slot.get('centre_prior'))
                taken.append((bg, seed, what))
                curve = results.get('curves', {}).get(bg, {}).get(seed, {}).get(what)
                if curve is not None:
                    state['curves'].setdefault(bg, {}).setdefault(seed, {})[what] = curve
                walls = results.get('wall_times_s', {}).get(bg, {}).get(seed, {})
                for k, v in walls.items():
                    if k.split('/')[0] == what:
                        state['wall_times_s'].setdefault(bg, {}).setdefault(seed, {})[k] = v
    return taken, left


def stage_key(what, preset, fingerprint):
    """The cache key of a stage: a hash of the preset values it depends on (:func:`arms.stage_keys`), its resolved
    config (an arm: its config file as mmengine resolves it, plus its overrides; an anchor: the MoCo v2 twin's model)
    and the data's content fingerprint. A record or a run whose key differs is not reused."""
    from mmengine.config import Config
    if what in A.ARMS:
        arm = A.ARMS[what]
        config = dict(text=Config.fromfile(A.config_path(arm)).pretty_text, overrides=list(arm.overrides))
    else:
        config = dict(model=Config.fromfile(A.config_path('mocov2')).model.to_dict())
    inputs = dict(stage=what, preset={k: preset[k] for k in A.stage_keys(what, preset)}, config=config,
                  data=fingerprint)
    return hashlib.sha256(json.dumps(inputs, sort_keys=True, default=str).encode()).hexdigest()[:16]
