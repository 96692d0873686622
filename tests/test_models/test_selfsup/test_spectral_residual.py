"""saliency_source='spectral_residual': a model-free control source, the key view's pixels' spectral residual."""
import math

import numpy as np
import pytest
import torch
from scipy import ndimage

from scl.saliency import SaliencyStore
from scl.saliency import spectral_residual
from test_scl import G, fixed_batch, samples, tiny_model


def numpy_reference(img, out_size, sigma):
    """Hou & Zhang's recipe in numpy / scipy, float64: the map :func:`spectral_residual` must reproduce."""
    grey = img.mean(0).astype(np.float64)
    side = grey.shape[0]
    f = np.fft.fft2(grey)
    log_amp = np.log(np.maximum(np.abs(f), 1e-8))
    residual = log_amp - ndimage.uniform_filter(log_amp, 3, mode='nearest')
    sal = np.abs(np.fft.ifft2(np.exp(residual + 1j * np.angle(f))))**2
    s = sigma * side
    sal = ndimage.gaussian_filter(sal, s, mode='mirror', truncate=round(3 * s) / s)
    k = side // out_size
    sal = sal.reshape(out_size, k, out_size, k).mean((1, 3))
    return (sal - sal.min()) / (sal.max() - sal.min())


@pytest.mark.parametrize('sigma,out_size', [(0.02, 16), (0.06, 8)])
def test_equals_a_numpy_reference(sigma, out_size):
    images = torch.rand(3, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    ours = spectral_residual(images, out_size, sigma).numpy()
    for i in range(3):
        np.testing.assert_allclose(ours[i], numpy_reference(images[i].numpy(), out_size, sigma), atol=2e-4)


def test_finds_an_odd_patch_on_a_regular_background():
    g = torch.Generator().manual_seed(0)
    x = torch.arange(64, dtype=torch.float32) * 2 * math.pi * 8 / 64  # 8 periods: seamless under the FFT's wrap
    img = (torch.sin(x[None, :]) * torch.sin(x[:, None])).expand(3, 64, 64).clone()  # a regular texture
    img[:, 40:52, 8:20] = torch.rand(12, 12, generator=g)  # one unexpected patch
    sal = spectral_residual(img[None], 16)[0]
    r, c = divmod(int(sal.argmax()), 16)
    assert 10 <= r <= 12 and 2 <= c <= 4, (r, c)
    assert sal[10:13, 2:5].mean() > 3 * sal[:8, 8:].mean()


def test_does_not_depend_on_the_intensity_scale():
    images = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(spectral_residual(images * 7.5, 8), spectral_residual(images, 8), atol=1e-4, rtol=0)


def test_training_step_writes_the_key_views_spectral_residual_without_extra_passes(tmp_path):
    model = tiny_model()
    model.saliency_source = 'spectral_residual'
    model.saliency_store = SaliencyStore.create(str(tmp_path / 's'), 4, grid_size=G, dtype='float32')
    batch = fixed_batch()
    keys, extras = model._key(batch[0])
    torch.testing.assert_close(extras, spectral_residual(batch[0], G))
    calls = []
    model.encoder_k.module[0].register_forward_hook(lambda *a: calls.append(1))
    model.loss(batch, samples())  # full-image boxes, no flips: each view's map lands on its scene's grid as it is
    assert len(calls) == 2
    maps = np.asarray(model.saliency_store.maps)
    views = [spectral_residual(v, G).numpy() for v in batch]
    # the store started uniform (1) and blended both views in; it now differs from 1 where the views' maps do
    assert (maps != 1).any()
    assert np.corrcoef(maps.reshape(4, -1)[0], (views[0][0] + views[1][0]).ravel())[0, 1] > 0.9


def test_model_free_source_in_studies_needs_no_queue():
    from scl.saliency import model_saliency
    model = tiny_model('SymMoCo', dict(type='ContrastiveHead', loss=dict(type='CrossEntropyLoss'), temperature=0.2))
    del model.queue
    images = [np.random.default_rng(i).integers(0, 255, (48, 48, 3), dtype=np.uint8) for i in range(2)]
    maps = model_saliency(model, images, 32, 8, source='spectral_residual')
    assert maps.shape == (2, 8, 8) and maps.min() >= 0 and maps.max() <= 1
