import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.runner import Runner

from conftest import ROOT, shrink_selfsup_cfg


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
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        'visualize_saliency', osp.join(ROOT, 'tools/analysis_tools/visualize_saliency.py'))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


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
