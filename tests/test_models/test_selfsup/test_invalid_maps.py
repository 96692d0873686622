"""Non-finite or constant saliency maps never reach the store or the loss, whatever the source."""
import numpy as np
import pytest
import torch

from scl.saliency import SaliencyStore
from scl.saliency import valid_maps
from test_scl import G, samples, tiny_model

SOURCES = ('activation', 'gradcam', 'dense_contrast', 'spectral_residual')


def test_valid_maps_by_hand():
    maps = torch.rand(4, 3, 3)
    maps[1] = 0.7  # constant
    maps[2, 0, 0] = float('nan')
    maps[3, 1, 1] = float('inf')
    assert valid_maps(maps).tolist() == [True, False, False, False]


@pytest.mark.parametrize('source', SOURCES)
def test_constant_images_leave_the_store_and_loss_finite(source, tmp_path):
    model = tiny_model()
    model.saliency_source = source
    store = SaliencyStore.create(str(tmp_path / 's'), 4, grid_size=G, init_value=0.5, dtype='float32')
    model.saliency_store = store
    constant = [torch.full((4, 3, 32, 32), 0.5), torch.full((4, 3, 32, 32), 0.5)]
    loss = model.loss(constant, samples())['loss']
    loss.backward()
    model.apply_pending_saliency()
    assert torch.isfinite(loss)
    assert np.isfinite(store.maps[:]).all()


def test_a_nan_view_is_counted_and_never_written(tmp_path):
    from mmengine.logging import MessageHub
    model = tiny_model()
    store = SaliencyStore.create(str(tmp_path / 's'), 4, grid_size=G, init_value=0.5, dtype='float32')
    model.saliency_store = store
    bad = torch.rand(4, 4, 4)
    bad[1, 2, 2] = float('nan')
    idx, values, coverage = model.saliency_update([bad, torch.rand(4, 4, 4)], samples())
    assert model.invalid_maps == 1
    assert MessageHub.get_current_instance().get_scalar('train/saliency_invalid').current() == 1
    assert not coverage[1].any() and coverage[0].all() and coverage[4:].all()  # rows: view 0 of every sample, view 1
    assert torch.isfinite(values).all()
    store.update(idx.numpy(), values.numpy(), coverage.numpy(), 0.5)
    # sample 1 got only its second view's map (row 5): 0.5 * 0.5 + 0.5 * value
    np.testing.assert_allclose(store.maps[1], 0.25 + 0.5 * values[5].numpy(), rtol=1e-6)
    assert np.isfinite(store.maps[:]).all()


def test_the_store_refuses_non_finite_covered_values(tmp_path):
    store = SaliencyStore.create(str(tmp_path / 's'), 2, grid_size=2, dtype='float32')
    values = np.full((1, 2, 2), np.nan, np.float32)
    store.update([0], values, np.zeros((1, 2, 2), bool), 0.5)  # uncovered: fine, nothing written
    with pytest.raises(ValueError, match='non-finite saliency values'):
        store.update([0], values, np.ones((1, 2, 2), bool), 0.5)
