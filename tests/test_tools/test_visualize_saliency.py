import os
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.runner import Runner

from conftest import ROOT, load_script, shrink_selfsup_cfg


@pytest.fixture(scope='module')
def runs(tiny_data, tmp_path_factory):
    out = {}
    for name, path in (('scl', 'configs/scl/scl_resnet18_1xb32-coslr-300i_demo.py'),
                       ('moco', 'configs/mocov2/mocov2_resnet18_1xb32-coslr-300i_demo.py')):
        wd = str(tmp_path_factory.mktemp(name))
        cfg = shrink_selfsup_cfg(Config.fromfile(osp.join(ROOT, path)), tiny_data, wd, iters=1)
        cfg.custom_hooks = [h for h in cfg.get('custom_hooks', []) if h['type'] == 'SaliencyStoreHook']
        Runner.from_cfg(cfg).train()
        cfg_path = osp.join(wd, 'cfg.py')
        cfg.dump(cfg_path)
        out[name] = (cfg_path, osp.join(wd, 'iter_1.pth'))
    return out


def load_tool():
    return load_script('tools/analysis_tools/visualize_saliency.py')


def is_png(path):
    return open(path, 'rb').read(8) == b'\x89PNG\r\n\x1a\n'


def test_from_the_store_of_an_scl_checkpoint(runs, tmp_path, capsys):
    cfg, ckpt = runs['scl']
    out = str(tmp_path / 'scl.png')
    assert load_tool().main([cfg, ckpt, '--out', out, '--num-images', '3']) == 0
    assert is_png(out) and 'wrote' in capsys.readouterr().out


def test_from_the_model_of_a_moco_checkpoint(runs, tmp_path):
    cfg, ckpt = runs['moco']
    out = str(tmp_path / 'moco.png')
    assert load_tool().main([cfg, ckpt, '--out', out, '--num-images', '2', '--num-pairs', '0']) == 0
    assert is_png(out)


def test_store_source_on_a_moco_checkpoint_is_a_clear_error(runs, tmp_path, capsys):
    cfg, ckpt = runs['moco']
    assert load_tool().main([cfg, ckpt, '--source', 'store', '--out', str(tmp_path / 'x.png')]) == 2
    assert 'no saliency store' in capsys.readouterr().err


def test_missing_checkpoint(runs, tmp_path, capsys):
    cfg, _ = runs['scl']
    assert load_tool().main([cfg, str(tmp_path / 'none.pth')]) == 2
    assert 'does not exist' in capsys.readouterr().err


def write_photos(folder):
    """Two small real photos of odd sizes (skimage's bundled samples, else a scene of the tiny set) in a folder."""
    import cv2
    import numpy as np
    os.makedirs(folder, exist_ok=True)
    try:
        from skimage import data
        photos = [data.astronaut()[::7, ::5], data.coffee()[::9, ::6]]  # 74 x 103 and 45 x 100, RGB
    except ImportError:
        rng = np.random.default_rng(0)
        photos = [rng.integers(0, 255, (74, 103, 3), np.uint8), rng.integers(0, 255, (45, 100, 3), np.uint8)]
    paths = [osp.join(folder, 'a.jpg'), osp.join(folder, 'b.png')]
    for p, img in zip(paths, photos):
        cv2.imwrite(p, np.ascontiguousarray(img[:, :, ::-1]))
    return paths


@pytest.mark.parametrize('method', ['scl', 'moco'])
def test_any_photo_file_or_folder(runs, tmp_path, capsys, method):
    cfg, ckpt = runs[method]
    paths = write_photos(str(tmp_path / 'photos'))
    single = str(tmp_path / 'single.png')
    assert load_tool().main([cfg, ckpt, '--img', paths[0], '--out', single, '--num-pairs', '2']) == 0
    assert is_png(single) and 'wrote' in capsys.readouterr().out
    folder = str(tmp_path / 'folder.png')
    assert load_tool().main([cfg, ckpt, '--img', str(tmp_path / 'photos'), '--out', folder, '--img-size', '48']) == 0
    assert is_png(folder)


def test_photo_maps_are_the_momentum_encoders(runs, tmp_path):
    """--img draws model_saliency of the checkpoint's key encoder at the config's view size (32 px here)."""
    import numpy as np
    import torch
    from mmpretrain.registry import MODELS

    from scl.saliency import model_saliency
    from scl.visualization import list_images, load_rgb
    cfg_path, ckpt = runs['scl']
    tool = load_tool()
    cfg = Config.fromfile(cfg_path)
    assert tool.view_size(cfg) == 32
    paths = write_photos(str(tmp_path / 'photos'))
    assert list_images([str(tmp_path / 'photos'), paths[0]]) == paths  # folder sorted, duplicates dropped
    model = MODELS.build(cfg.model)
    model.load_state_dict(torch.load(ckpt, map_location='cpu')['state_dict'])
    imgs = [load_rgb(p) for p in paths]
    key = model_saliency(model, imgs, 32, 16)
    query = model_saliency(model, imgs, 32, 16, encoder='query')
    assert key.shape == (2, 16, 16) and 0 <= key.min() and key.max() <= 1
    assert not np.allclose(key[0], key[1])  # two photos, two maps
    assert not np.allclose(key, query)  # after a step the key encoder differs from the online one


def test_photo_errors_are_clear(runs, tmp_path, capsys):
    cfg, ckpt = runs['scl']
    tool = load_tool()
    assert tool.main([cfg, ckpt, '--img', str(tmp_path / 'nope.jpg')]) == 2
    assert 'image path' in capsys.readouterr().err
    (tmp_path / 'empty').mkdir()
    (tmp_path / 'empty' / 'notes.txt').write_text('not an image')
    assert tool.main([cfg, ckpt, '--img', str(tmp_path / 'empty')]) == 2
    assert 'holds no image' in capsys.readouterr().err
    (tmp_path / 'broken.jpg').write_bytes(b'not a jpeg')
    assert tool.main([cfg, ckpt, '--img', str(tmp_path / 'broken.jpg')]) == 2
    assert 'corrupt or not an image' in capsys.readouterr().err
    write_photos(str(tmp_path / 'ok'))
    assert tool.main([cfg, ckpt, '--img', str(tmp_path / 'ok'), '--source', 'store']) == 2
    assert 'drop --source store' in capsys.readouterr().err
