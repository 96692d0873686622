"""The quick-start install has mmcv-lite (no compiled ops): pretraining must never need mmcv.ops, and whatever reaches
it gets one clear line. Tested in subprocesses whose import system cannot find ``mmcv._ext`` (as on mmcv-lite)."""
import glob
import os.path as osp
import subprocess
import sys
import textwrap

import pytest

from conftest import ROOT

# Hides mmcv's compiled extension from the import system, as an mmcv-lite install lacks it.
LITE_PRELUDE = textwrap.dedent('''
    import importlib.machinery
    _find = importlib.machinery.PathFinder.find_spec.__func__
    def _lite(cls, fullname, path=None, target=None):
        return None if fullname == 'mmcv._ext' else _find(cls, fullname, path, target)
    importlib.machinery.PathFinder.find_spec = classmethod(_lite)
''')


def run_lite(code, *args, cwd=ROOT):
    return subprocess.run([sys.executable, '-c', LITE_PRELUDE + textwrap.dedent(code), *args], cwd=cwd,
                          capture_output=True, text=True, timeout=600)


def pretraining_configs():
    return sorted(p for p in glob.glob(osp.join(ROOT, 'configs', '**', '*.py'), recursive=True)
                  if '_base_' not in p and 'benchmarks' not in p)


@pytest.mark.slow
def test_pretraining_configs_build_and_the_demo_trains_without_ops(tiny_data, tmp_path):
    code = '''
        import sys
        sys.path.insert(0, 'tests')
        import scl
        from scl.utils.mmcv_ops import has_ops
        assert not has_ops()
        from mmengine.config import Config
        from mmengine.runner import Runner
        from mmpretrain.registry import MODELS, TRANSFORMS
        from mmengine.dataset import Compose
        from mmengine.registry import init_default_scope
        init_default_scope('mmpretrain')
        configs, data, work = sys.argv[1].split(','), sys.argv[2], sys.argv[3]
        for path in configs:
            cfg = Config.fromfile(path)
            MODELS.build(cfg.model)
            Compose([TRANSFORMS.build(t) for t in cfg.train_dataloader.dataset.pipeline])
        from conftest import shrink_selfsup_cfg
        cfg = shrink_selfsup_cfg(Config.fromfile('configs/scl/scl_resnet18_1xb32-coslr-300i_demo.py'), data, work)
        runner = Runner.from_cfg(cfg)
        runner.train()
        assert runner.iter == 2
        assert 'mmcv._ext' not in sys.modules and 'mmcv.ops' not in sys.modules
        print('lite ok', len(configs))
    '''
    configs = pretraining_configs()
    assert len(configs) >= 8
    proc = run_lite(code, ','.join(configs), tiny_data, str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f'lite ok {len(configs)}' in proc.stdout


def test_reaching_ops_is_one_clear_line_with_the_fix(tmp_path):
    proc = run_lite('''
        import scl
        import mmcv.ops
    ''')
    assert proc.returncode != 0
    assert "scl.utils.mmcv_ops.MMCVOpsMissingError: this needs mmcv's compiled operators" in proc.stderr
    assert 'bash tools/install.sh --with-ops' in proc.stderr


@pytest.mark.slow
def test_a_detection_config_on_lite_ends_with_the_fix_and_status_2(tmp_path):
    config = 'configs/benchmarks/mmdetection/scenes/mask-rcnn_r18-fpn_scl-pre_600i_scenes.py'
    proc = run_lite(f'''
        import runpy, sys
        sys.argv = ['tools/train.py', '{config}', '--work-dir', r'{tmp_path}',
                    '--cfg-options', 'model.backbone.init_cfg.checkpoint=unused.pth']
        runpy.run_path('tools/train.py', run_name='__main__')
    ''')
    assert proc.returncode == 2, proc.stderr[-3000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: this needs mmcv's compiled operators") and '--with-ops' in last
    assert 'Traceback' not in proc.stderr
