"""scl.saliency.sources: one registry decides what the training step and the studies accept, and a new source is one
registered function."""
import numpy as np
import pytest
import torch
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import scl  # noqa: F401
from scl.saliency import SOURCES, SaliencySource, SaliencyStore, get_source, model_saliency, source_names
from scl.saliency.sources import saliency_source
from scl.utils.errors import ConfigError


def build(source='gradcam', type_='SCLAlgorithm'):
    torch.manual_seed(0)
    extra = dict(saliency_source=source) if type_ == 'SCLAlgorithm' else {}
    head = dict(type='SaliencyContrastiveHead', temperature=0.2) if type_ == 'SCLAlgorithm' else dict(
        type='ContrastiveHead', loss=dict(type='CrossEntropyLoss'), temperature=0.2)
    return MODELS.build(dict(
        type=type_, queue_len=32, feat_dim=16, momentum=0.01, **extra,
        data_preprocessor=dict(type='SelfSupDataPreprocessor', mean=[0, 0, 0], std=[1, 1, 1]),
        backbone=dict(type='ResNet', depth=18, base_channels=8, strides=(1, 2, 2, 1)),
        neck=dict(type='MoCoV2Neck', in_channels=64, hid_channels=32, out_channels=16, with_avg_pool=True),
        head=head))


def samples(n=4):
    out = []
    for i in range(n):
        ds = DataSample()
        ds.set_metainfo(dict(sample_idx=i))
        ds.set_field(np.array([[0, 0, 1, 1], [0, 0, 1, 1]], np.float32), 'crop_bbox')
        ds.set_field(np.ones(2, np.float32), 'saliency_score')
        ds.set_field(np.array([False, False]), 'view_flip')
        ds.set_field(np.array(['none', 'none']), 'view_flip_direction')
        out.append(ds)
    return out


def images(n=4):
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (24, 32, 3), dtype=np.uint8) for _ in range(n)]


@pytest.fixture
def centre_source():
    """A source registered only for one test: the same centre-weighted map from training and from studies."""

    def centre(n, h, w):
        y, x = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing='ij')
        return (1 - (x**2 + y**2) / 2).expand(n, h, w).clone()

    @saliency_source('centre_test', 'a fixed centre prior (test only)', 'pixels', 'key',
                     key_map=lambda algo, img, feats, keys: centre(len(img), 4, 4))
    def whole_image(model, x, **_):
        return centre(len(x), 4, 4)

    yield centre
    del SOURCES['centre_test']


def test_training_accepts_exactly_the_sources_with_a_training_stage():
    for name, source in SOURCES.items():
        if source.training is None:
            with pytest.raises(ConfigError, match=f'saliency_source must be one of .*got {name!r}'):
                build(name)
        else:
            assert build(name).source is source
    assert 'contracam' not in source_names(training=True) and 'oracle' in source_names(training=True)


def test_studies_compute_exactly_the_sources_with_a_whole_image_map():
    model = build('gradcam')
    for name in SOURCES:
        if SOURCES[name].whole_image is None:
            with pytest.raises(ConfigError, match=f'source must be one of .*got {name!r}'):
                model_saliency(model, images(), 32, 4, source=name)
        else:
            maps = model_saliency(model, images(), 32, 4, source=name)
            assert maps.shape == (4, 4, 4) and np.isfinite(maps).all() and maps.min() >= 0 and maps.max() <= 1
    assert set(source_names(study=True)) == {'activation', 'gradcam', 'dense_contrast', 'spectral_residual',
                                             'contracam'}


def test_a_moco_source_on_a_model_without_queue_is_a_clear_error():
    class Plain(torch.nn.Module):  # a backbone-only model: no key encoder, no queue
        def __init__(self):
            super().__init__()
            self.backbone = build('gradcam').backbone
            self.data_preprocessor = build('gradcam').data_preprocessor

    assert model_saliency(Plain(), images(), 32, 4, source='activation').shape == (4, 4, 4)
    with pytest.raises(ConfigError, match='needs a MoCo-style model'):
        model_saliency(Plain(), images(), 32, 4, source='gradcam')


def test_the_store_is_written_only_by_sources_that_update_it(tmp_path):
    for name in source_names(training=True):
        model = build(name)
        model.saliency_store = SaliencyStore.create(str(tmp_path / name), 4, grid_size=4, dtype='float32')
        before = np.array(model.saliency_store.maps)
        inputs = [torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(v)) for v in (1, 2)]
        loss = model.loss(inputs, samples())['loss']
        loss.backward()
        model.apply_pending_saliency()
        changed = not np.array_equal(np.array(model.saliency_store.maps), before)
        assert changed == SOURCES[name].updates_store, name


def test_a_new_source_is_one_registered_function(centre_source, tmp_path):
    assert get_source('centre_test').updates_store and 'centre_test' in source_names(training=True, study=True)
    model = build('centre_test')
    model.saliency_store = SaliencyStore.create(str(tmp_path / 's'), 4, grid_size=4, dtype='float32')
    model.saliency_ema = 1.0
    model.loss([torch.rand(4, 3, 32, 32), torch.rand(4, 3, 32, 32)], samples())
    got = np.array(model.saliency_store.maps[0], np.float32)
    np.testing.assert_allclose(got, centre_source(1, 4, 4)[0], atol=1e-6)  # the full-image box maps cell to cell
    np.testing.assert_allclose(model_saliency(model, images(1), 32, 4, source='centre_test')[0],
                               centre_source(1, 4, 4)[0].clamp(0, 1), atol=1e-6)


def test_a_source_registers_once_and_its_properties_agree():
    with pytest.raises(ValueError, match='already registered'):
        saliency_source('gradcam', 'again', 'moco', 'backward')(lambda model, x, **_: x)
    with pytest.raises(ValueError, match="key_map goes with training='key'"):
        SaliencySource('x', 'x', 'pixels', 'backward', key_map=lambda *a: None)
    with pytest.raises(ValueError, match='reads must be one of'):
        SaliencySource('x', 'x', 'telepathy')
