import pickle

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from scl.saliency import SaliencyStore


class StoreReader(Dataset):
    """Returns what a dataloader worker reads from the store."""

    def __init__(self, store):
        self.store = store

    def __len__(self):
        return len(self.store)

    def __getitem__(self, i):
        return torch.tensor([float(self.store.get(i)[0, 0]), float(self.store.guided)])


def read_all(loader):
    return torch.cat([b for b in loader]).numpy()


@pytest.mark.slow
@pytest.mark.parametrize('context', ['fork', 'spawn'])
def test_updates_visible_from_persistent_workers(tmp_path, context):
    store = SaliencyStore.create(str(tmp_path / 's'), 4, grid_size=2, dtype='float32')
    loader = DataLoader(StoreReader(store), batch_size=4, num_workers=1, persistent_workers=True,
                        multiprocessing_context=context)
    np.testing.assert_array_equal(read_all(loader), [[1, 0]] * 4)  # workers start here and stay alive
    store.update([2], np.full((1, 2, 2), 0.0, np.float32), np.ones((1, 2, 2), bool), rate=0.5)
    store.set_guided(True)
    np.testing.assert_array_equal(read_all(loader), [[1, 1], [1, 1], [0.5, 1], [1, 1]])


def test_pickles_as_a_read_only_view(tmp_path):
    store = SaliencyStore.create(str(tmp_path / 's'), 3, grid_size=4)
    clone = pickle.loads(pickle.dumps(store))
    assert clone.directory == store.directory and not clone.writable
    with pytest.raises(PermissionError):
        clone.set_guided(True)
    store.maps[1] = 0.25
    assert clone.get(1)[0, 0] == 0.25


def test_state_dict_round_trip_is_bit_exact(tmp_path):
    a = SaliencyStore.create(str(tmp_path / 'a'), 5, grid_size=4)
    rng = np.random.default_rng(0)
    a.update(np.arange(5), rng.random((5, 4, 4)).astype(np.float32), rng.random((5, 4, 4)) > 0.5, rate=0.3)
    a.set_guided(True)
    sd = a.state_dict()
    b = SaliencyStore.create(str(tmp_path / 'b'), 5, grid_size=4)
    b.load_state_dict(sd)
    assert np.array_equal(np.asarray(a.maps).view(np.uint16), np.asarray(b.maps).view(np.uint16))
    assert b.guided


def test_load_from_another_dataset_size_is_a_clear_error(tmp_path):
    a = SaliencyStore.create(str(tmp_path / 'a'), 5, grid_size=4)
    b = SaliencyStore.create(str(tmp_path / 'b'), 6, grid_size=4)
    with pytest.raises(ValueError, match='6 samples'):
        b.load_state_dict(a.state_dict())


def test_update_checks(tmp_path):
    s = SaliencyStore.create(str(tmp_path / 's'), 2, grid_size=2)
    with pytest.raises(IndexError, match='outside'):
        s.update([5], np.zeros((1, 2, 2)), np.ones((1, 2, 2), bool), 0.5)
    with pytest.raises(ValueError, match='shapes'):
        s.update([0], np.zeros((1, 3, 3)), np.ones((1, 3, 3), bool), 0.5)
    with pytest.raises(ValueError, match='at least one'):
        SaliencyStore.create(str(tmp_path / 't'), 0)
    with pytest.raises(FileNotFoundError, match='does not exist'):
        SaliencyStore.open(str(tmp_path / 'nothing'))


@pytest.mark.parametrize('arrive_as', ['requires_grad', 'bfloat16', 'float32'])
def test_restores_maps_that_are_not_plain_cpu_tensors(tmp_path, arrive_as):
    """mmengine's Runner.resume loads checkpoints onto the current device: on a GPU the maps arrive as a CUDA tensor,
    which ``.numpy()`` refuses, as it refuses a tensor with autograd on or in bfloat16 (the cases CPU can build)."""
    a = SaliencyStore.create(str(tmp_path / 'a'), 3, grid_size=4)
    a.update(np.arange(3), np.random.default_rng(0).random((3, 4, 4)).astype(np.float32), np.ones((3, 4, 4), bool),
             rate=1.0)
    sd = a.state_dict()
    maps = sd['maps']
    sd['maps'] = {'requires_grad': maps.float().requires_grad_(), 'bfloat16': maps.to(torch.bfloat16),
                  'float32': maps.float()}[arrive_as]
    b = SaliencyStore.create(str(tmp_path / 'b'), 3, grid_size=4)
    b.load_state_dict(sd)
    tol = 1e-2 if arrive_as == 'bfloat16' else 0  # bfloat16 keeps 8 bits of mantissa
    np.testing.assert_allclose(np.asarray(b.maps, np.float32), np.asarray(a.maps, np.float32), atol=tol)


def test_snapshots_give_each_iteration_the_version_it_reads(tmp_path):
    """Version k = the maps after k * period iterations; a sample of iteration i reads version (i - lag) // period
    (0 before lag), written or waited for; a version overwritten in the ring is an error, not a silent newer map."""
    store = SaliencyStore.create(str(tmp_path / 's'), 2, grid_size=2, dtype='float32')
    store.set_schedule(warmup_iters=0, batch_size=4)
    store.set_snapshots(period=2, lag=3, ring=3)
    history = {0: np.array(store.maps)}
    for it in range(1, 9):  # iteration it - 1 writes value it into sample 0
        store.update([0], np.full((1, 2, 2), it / 10, np.float32), np.ones((1, 2, 2), bool), rate=1.0)
        store.snapshot_after(it)
        history[it] = np.array(store.maps)
    reader = SaliencyStore.open(store.directory)  # a worker's read-only view
    for it in range(7, 12):  # iterations whose versions (2-4) the ring still holds
        version_iter = max(0, (it - 3) // 2) * 2
        for position in (4 * it, 4 * it + 3):
            np.testing.assert_array_equal(reader.get_at(0, position), history[version_iter][0])
    with pytest.raises(RuntimeError, match='overwritten'):
        reader.get_at(0, 4 * 3)  # iteration 3 reads version 0, long since replaced (ring of 3, newest 4)
    with pytest.raises(RuntimeError, match='was not written'):
        reader.get_at(0, 4 * 13, timeout=0.05)  # iteration 13 reads version 5 (iteration 10): not yet written
    with pytest.raises(ValueError, match='use ring >= 3'):
        store.set_snapshots(period=2, lag=3, ring=2)


def test_snapshots_survive_a_checkpoint(tmp_path):
    a = SaliencyStore.create(str(tmp_path / 'a'), 3, grid_size=2, dtype='float32')
    a.set_schedule(0, 1)
    a.set_snapshots(period=1, lag=1)
    for it in (1, 2):
        a.update([1], np.full((1, 2, 2), it / 4, np.float32), np.ones((1, 2, 2), bool), rate=1.0)
        a.snapshot_after(it)
    b = SaliencyStore.create(str(tmp_path / 'b'), 3, grid_size=2, dtype='float32')
    b.set_schedule(0, 1)
    b.set_snapshots(period=1, lag=1)
    assert b.load_state_dict(a.state_dict())
    for position in range(4):
        np.testing.assert_array_equal(b.get_at(1, position), a.get_at(1, position))
    c = SaliencyStore.create(str(tmp_path / 'c'), 3, grid_size=2, dtype='float32')
    c.set_schedule(0, 1)
    c.set_snapshots(period=2, lag=1)  # another setting: the maps are restored, the versions are not
    assert not c.load_state_dict(a.state_dict())
    np.testing.assert_array_equal(np.array(c.maps), np.array(a.maps))
