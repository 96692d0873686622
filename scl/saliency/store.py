"""The saliency store: one small saliency map per training sample, shared with dataloader workers.

The maps live in a file-backed memory map (``maps.npy``, N x G x G, float16 by default) with a tiny state file
(``state.npy``: the "guided" flag that ends the warm-up). Pickling a store pickles its path only, so a dataloader
worker (fork or spawn, persistent or not) re-opens the same file and sees every update the trainer writes, through the
operating system's shared page cache. Each rank owns its own directory; ranks apply the same gathered updates in the
same order, so their stores stay identical.

Workers usually start before the store exists (mmengine's ``IterBasedTrainLoop`` starts them when it is built, before
any hook runs). A :class:`SaliencyStoreLink`, made with the transform in the main process before any worker starts,
carries the store's directory to them once the trainer publishes it: no worker restart, no private dataloader API.
"""
import os
import os.path as osp
import time
from typing import Optional

import numpy as np
import torch

_GUIDED = 0  # index of the guided flag in state.npy
_WARMUP, _BATCH = 1, 2  # the warm-up in iterations and the batch per rank: guidance by a sample's position
# Snapshots (versions of the maps by iteration, read by samples that know their position): every _PERIOD iterations,
# read _LAG iterations late, kept in a ring of _RING; _NEWEST is the newest version written (-1: none).
_PERIOD, _LAG, _RING, _NEWEST = 3, 4, 5, 6
_STATE_LEN = 8


def _wait_for(ready, timeout, poll):
    """Poll ``ready()`` every ``poll`` seconds until it is true (True) or ``timeout`` seconds have passed (False)."""
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            return False
        time.sleep(poll)
    return True


def _as_numpy(maps):
    """Saved maps as numpy. mmengine's Runner.resume loads checkpoints onto the current device: on a GPU the maps
    arrive as a CUDA tensor, which has no .numpy(); other loaders may hand them over with autograd on or as
    bfloat16."""
    if isinstance(maps, torch.Tensor):
        maps = maps.detach().to('cpu')
        return (maps.float() if maps.dtype == torch.bfloat16 else maps).numpy()
    return np.asarray(maps)


class SaliencyStore:
    """N x G x G saliency maps in [0, 1], in each image's own normalised coordinates.

    Cell ``(r, c)`` of a map covers ``[c / G, (c + 1) / G) x [r / G, (r + 1) / G)`` of the image (x, y).

    Args:
        directory (str): Directory holding ``maps.npy`` and ``state.npy``.
        writable (bool): Open for writing (the trainer) or read-only (dataloader workers). Defaults to True.

    Use :meth:`create` to make a new store and :meth:`open` (or unpickling) to attach to an existing one.
    """

    def __init__(self, directory, writable=True):
        self.directory = osp.abspath(directory)
        self.writable = writable
        mode = 'r+' if writable else 'r'
        for name in ('maps.npy', 'state.npy'):
            if not osp.isfile(osp.join(self.directory, name)):
                raise FileNotFoundError(f'saliency store file {osp.join(self.directory, name)} does not exist; '
                                        'create the store with SaliencyStore.create (SaliencyStoreHook does it)')
        self.maps = np.load(osp.join(self.directory, 'maps.npy'), mmap_mode=mode)
        self.state = np.load(osp.join(self.directory, 'state.npy'), mmap_mode=mode)
        self._snaps = None  # snapshots.npy (ring x N x G x G), opened on first use

    @classmethod
    def create(cls, directory, num_samples, grid_size=16, init_value=1.0, dtype='float16'):
        """Create (overwriting) a store of ``num_samples`` maps filled with ``init_value``."""
        if num_samples <= 0:
            raise ValueError(f'a saliency store needs at least one sample, got num_samples={num_samples}')
        if grid_size <= 0:
            raise ValueError(f'grid_size must be positive, got {grid_size}')
        if dtype not in ('float16', 'float32'):
            raise ValueError(f"dtype must be 'float16' or 'float32', got {dtype!r}")
        os.makedirs(directory, exist_ok=True)
        maps = np.lib.format.open_memmap(
            osp.join(directory, 'maps.npy'), mode='w+', dtype=dtype, shape=(num_samples, grid_size, grid_size))
        maps[:] = init_value
        maps.flush()
        del maps
        state = np.lib.format.open_memmap(osp.join(directory, 'state.npy'), mode='w+', dtype=np.int64,
                                          shape=(_STATE_LEN, ))
        state[:] = 0
        state[_NEWEST] = -1
        state.flush()
        del state
        return cls(directory, writable=True)

    @classmethod
    def open(cls, directory, writable=False):
        return cls(directory, writable=writable)

    # -- pickling: workers re-open the file read-only -------------------------------------------------------------
    def __getstate__(self):
        return dict(directory=self.directory)

    def __setstate__(self, state):
        self.__init__(state['directory'], writable=False)

    def __repr__(self):
        return (f'{self.__class__.__name__}(directory={self.directory!r}, num_samples={self.num_samples}, '
                f'grid_size={self.grid_size}, dtype={self.maps.dtype}, guided={self.guided})')

    # -- reading ---------------------------------------------------------------------------------------------------
    @property
    def num_samples(self):
        return self.maps.shape[0]

    @property
    def grid_size(self):
        return self.maps.shape[1]

    def __len__(self):
        return self.num_samples

    def get(self, index):
        """The map of sample ``index`` as a float32 G x G copy."""
        if not 0 <= index < self.num_samples:
            raise IndexError(f'sample index {index} is outside the saliency store of {self.num_samples} samples')
        return np.array(self.maps[index], dtype=np.float32)

    @property
    def guided(self):
        """False during the warm-up (crops ignore the maps), True afterwards."""
        return bool(self.state[_GUIDED])

    # -- writing (trainer only) ------------------------------------------------------------------------------------
    def _check_writable(self):
        if not self.writable:
            raise PermissionError(f'the saliency store at {self.directory} was opened read-only')

    def set_schedule(self, warmup_iters, batch_size):
        """Publish the warm-up length and the per-rank batch, so that a sample that knows its position in the sample
        stream knows its iteration and whether it is guided (:meth:`guided_at`), whenever a worker prepares it."""
        self._check_writable()
        self.state[_WARMUP], self.state[_BATCH] = int(warmup_iters), int(batch_size)
        self.state.flush()

    def guided_at(self, position):
        """Whether the sample at ``position`` of the stream (iteration ``position // batch``) comes after the
        warm-up; the live flag (:attr:`guided`) when no schedule was published."""
        batch = int(self.state[_BATCH])
        if batch <= 0:
            return self.guided
        return position // batch >= int(self.state[_WARMUP])

    # -- snapshots: the maps a sample reads depend on its iteration, never on timing --------------------------------
    def set_snapshots(self, period, lag, ring=None):
        """Keep versions of the maps: version ``k`` is the maps after ``k * period`` completed iterations (written by
        :meth:`snapshot_after`), and a sample of iteration ``i`` reads version ``(i - lag) // period`` (0 while
        ``i < lag``) through :meth:`get_at`, whenever and in whichever process it is prepared. ``lag`` must cover how
        far loader workers run ahead of training (their prefetch), so that the version exists when a worker needs
        it; ``ring`` versions are kept (default: enough for ``lag``). Version 0, the maps as they are now, is
        written at once."""
        self._check_writable()
        if period < 1 or lag < 0:
            raise ValueError(f'snapshots need period >= 1 and lag >= 0, got period={period}, lag={lag}')
        ring = ring or lag // period + 3
        if ring < lag // period + 2:
            raise ValueError(f'a ring of {ring} snapshots is overwritten before a sample {lag} iterations late reads '
                             f'it (every {period} iterations): use ring >= {lag // period + 2}')
        self.state[_PERIOD], self.state[_LAG], self.state[_RING] = period, lag, ring
        np.lib.format.open_memmap(osp.join(self.directory, 'snapshots.npy'), mode='w+', dtype=self.maps.dtype,
                                  shape=(ring, ) + self.maps.shape)
        self._snaps = None
        self.state[_NEWEST] = -1
        self._write_version(0)

    @property
    def snapshot_period(self):
        """Iterations between two versions of the maps; 0 when the store keeps none (reads are live)."""
        return int(self.state[_PERIOD])

    def _snapshots(self):
        if self._snaps is None:
            self._snaps = np.load(osp.join(self.directory, 'snapshots.npy'), mmap_mode='r+' if self.writable else 'r')
        return self._snaps

    def _write_version(self, k):
        # Workers see the copy through the shared page cache, as they see the maps: no msync of the ring on the
        # training step's path (the ring reaches disk when the kernel writes it back; checkpoints hold it anyway).
        snaps = self._snapshots()
        snaps[k % len(snaps)] = self.maps
        self.state[_NEWEST] = k  # written after the maps: a reader that sees version k finds its maps complete
        self.state.flush()

    def snapshot_after(self, iterations):
        """Called by the trainer once ``iterations`` iterations have completed (their updates written): writes the
        version of that iteration when it is a multiple of the period."""
        self._check_writable()
        period = self.snapshot_period
        if period and iterations % period == 0 and iterations // period > int(self.state[_NEWEST]):
            self._write_version(iterations // period)

    def version_at(self, position):
        """The version of the maps that the sample at ``position`` of the stream reads."""
        batch = max(1, int(self.state[_BATCH]))
        return max(0, (position // batch - int(self.state[_LAG])) // self.snapshot_period)

    def get_at(self, index, position, timeout=600.0, poll=0.005):
        """The map of sample ``index`` as the sample at ``position`` of the stream reads it: the version of
        :meth:`version_at` (waiting for the trainer to write it), or the live map when the store keeps no
        snapshots. A float32 G x G copy.

        Raises:
            RuntimeError: the version was not written within ``timeout`` seconds, or was already overwritten (a
                reader further ahead of training, or behind it, than the ring allows).
        """
        if not self.snapshot_period:
            return self.get(index)
        if not 0 <= index < self.num_samples:
            raise IndexError(f'sample index {index} is outside the saliency store of {self.num_samples} samples')
        k = self.version_at(position)
        if not _wait_for(lambda: int(self.state[_NEWEST]) >= k, timeout, poll):
            raise RuntimeError(f'saliency snapshot {k} (iteration {k * self.snapshot_period}) was not written in '
                               f'{timeout:.0f} s: is the trainer running SaliencyStoreHook?')
        snaps = self._snapshots()
        out = np.array(snaps[k % len(snaps)][index], dtype=np.float32)
        if int(self.state[_NEWEST]) - k >= len(snaps):
            raise RuntimeError(f'saliency snapshot {k} was overwritten before a sample of position {position} read '
                               f'it: its loader runs more than {len(snaps)} versions behind training')
        return out

    def set_guided(self, guided):
        self._check_writable()
        if bool(self.state[_GUIDED]) != bool(guided):
            self.state[_GUIDED] = int(bool(guided))
            self.state.flush()

    def update(self, indices, values, coverage, rate):
        """Blend ``values`` into the maps of ``indices`` by EMA where ``coverage`` is set.

        ``S[i] = (1 - rate) * S[i] + rate * values`` on covered cells; uncovered cells keep their value. Rows are
        applied in order, so a sample that appears twice (two views) is blended twice.

        Shape:
            indices: (M, ), values: (M, G, G) in [0, 1], coverage: (M, G, G) bool.
        """
        self._check_writable()
        indices = np.asarray(indices, dtype=np.int64)
        values = np.asarray(values, dtype=np.float32)
        coverage = np.asarray(coverage, dtype=bool)
        G = self.grid_size
        if values.shape != (len(indices), G, G) or coverage.shape != values.shape:
            raise ValueError(f'update shapes do not fit a store of grid {G}: indices {indices.shape}, '
                             f'values {values.shape}, coverage {coverage.shape}')
        if not np.isfinite(values[coverage]).all():
            raise ValueError('non-finite saliency values in covered cells: a map must be checked (finite, not '
                             'constant) before it reaches the store (SCLAlgorithm.saliency_update does)')
        if len(indices) and (indices.min() < 0 or indices.max() >= self.num_samples):
            raise IndexError(f'sample indices {indices.min()}..{indices.max()} are outside the saliency store of '
                             f'{self.num_samples} samples (was the store made for another dataset?)')
        for i, v, c in zip(indices, values, coverage):
            old = self.maps[i].astype(np.float32)
            self.maps[i] = np.where(c, (1.0 - rate) * old + rate * v, old)

    def flush(self):
        if self.writable:
            self.maps.flush()
            self.state.flush()

    # -- checkpoints -----------------------------------------------------------------------------------------------
    def state_dict(self):
        out = dict(maps=torch.from_numpy(np.array(self.maps)), guided=self.guided)
        if self.snapshot_period:
            out.update(snapshots=torch.from_numpy(np.array(self._snapshots())),
                       snapshot_state=[int(self.state[i]) for i in (_PERIOD, _LAG, _RING, _NEWEST)])
        return out

    def load_state_dict(self, state_dict):
        """Restore maps saved by :meth:`state_dict` bit-exactly, and the snapshots when they were saved with the
        store's snapshot setting (returns whether they were; else see :meth:`restart_snapshots`).

        Raises:
            ValueError: The checkpoint's store was made for a data set of another size or another grid.
        """
        self._check_writable()
        maps = _as_numpy(state_dict['maps'])
        if maps.shape != self.maps.shape:
            raise ValueError(
                f'the checkpoint holds saliency maps of shape {tuple(maps.shape)} (samples, grid, grid) but the '
                f'training set has {self.num_samples} samples with grid {self.grid_size}: resume with the same '
                'dataset and SaliencyStoreHook.grid_size, or start a new run without --resume')
        self.maps[:] = maps.astype(self.maps.dtype, copy=False)
        self.set_guided(state_dict.get('guided', False))
        period = self.snapshot_period
        saved = state_dict.get('snapshot_state')
        restored = bool(period and saved is not None
                        and list(saved[:3]) == [period, int(self.state[_LAG]), int(self.state[_RING])])
        if restored:
            snaps = self._snapshots()
            snaps[:] = _as_numpy(state_dict['snapshots']).astype(snaps.dtype, copy=False)
            snaps.flush()
            self.state[_NEWEST] = int(saved[3])
        self.flush()
        return restored

    def restart_snapshots(self, iterations):
        """Fill the versions up to the one of ``iterations`` with the maps as they are now: for a resume from a
        checkpoint saved without snapshots, or with another snapshot setting."""
        self._check_writable()
        newest = iterations // self.snapshot_period
        for k in range(max(0, newest - len(self._snapshots()) + 1), newest + 1):
            self._write_version(k)


class SaliencyStoreLink:
    """Where a data pipeline finds its run's saliency store, published after the dataloader workers started.

    Made in the main process with the transform that reads it (when the dataset is built, before the dataloader
    starts any worker). Its slot lives in shared memory (torch tensors moved to shared memory survive fork and are
    passed by handle to spawned workers), so every worker, persistent or not, sees the store directory that the
    trainer publishes later (:class:`~scl.engine.hooks.SaliencyStoreHook` does it before the run) and opens the store
    read-only on first use. Until a store is published :meth:`get` returns None.

    Args:
        capacity (int): Longest store directory path, in bytes. Defaults to 4096.
    """

    def __init__(self, capacity: int = 4096) -> None:
        self._meta = torch.zeros(2, dtype=torch.int64).share_memory_()  # version, path length
        self._path = torch.zeros(capacity, dtype=torch.uint8).share_memory_()
        self._views()

    def _views(self):
        # numpy views of the shared slot: reading the version costs ~0.1 us per sample instead of a tensor index.
        self._meta_np, self._path_np = self._meta.numpy(), self._path.numpy()
        self._local = None  # (version, store) as seen by this process

    def publish(self, store: SaliencyStore) -> None:
        """Point every process that holds this link (workers included) at ``store``."""
        path = store.directory.encode()
        if len(path) > self._path_np.size:
            raise ValueError(f'the saliency store path is longer than {self._path_np.size} bytes: {store.directory}')
        self._path_np[:len(path)] = np.frombuffer(path, dtype=np.uint8)
        self._meta_np[1] = len(path)
        version = int(self._meta_np[0]) + 1
        self._meta_np[0] = version  # written last: a reader never sees a new version with an old path
        self._local = (version, store)  # this process keeps the object it was given (writable in the trainer)

    def get(self) -> Optional[SaliencyStore]:
        """The published store (opened read-only on first use in a worker), or None before any publication."""
        version = int(self._meta_np[0])
        if version == 0:
            return None
        if self._local is None or self._local[0] != version:
            path = self._path_np[:int(self._meta_np[1])].tobytes().decode()
            self._local = (version, SaliencyStore.open(path))
        return self._local[1]

    def wait(self, timeout: float = 600.0, poll: float = 0.02) -> SaliencyStore:
        """The published store, waiting for its publication (a loader worker that starts before the trainer
        publishes the store, as mmengine's loops start them, waits here instead of preparing samples without it).

        Raises:
            ConfigError: Nothing was published within ``timeout`` seconds.
        """
        if not _wait_for(lambda: self.get() is not None, timeout, poll):
            from scl.utils.errors import ConfigError
            raise ConfigError(f'no saliency store was published to the data pipeline in {timeout:.0f} s: a '
                              'pipeline with SaliencyCropTransform and KeyedInfiniteSampler needs '
                              "dict(type='SaliencyStoreHook') in custom_hooks")
        return self.get()

    def __getstate__(self):
        return dict(_meta=self._meta, _path=self._path)

    def __setstate__(self, state):
        self._meta, self._path = state['_meta'], state['_path']
        self._views()

    def __repr__(self):
        store = self.get()
        return f'{self.__class__.__name__}({store.directory if store is not None else "unpublished"})'
