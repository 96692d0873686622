import pytest

from scl.utils.version_check import VersionMismatchError, check_versions

GOOD = dict(torch='2.14.1', mmengine='0.10.7', mmcv='2.1.0', mmpretrain='1.2.0', mmdet='3.3.0', numpy='1.26.4')


def test_installed_stack_passes():
    check_versions()  # the environment the tests run in


def test_good_versions_pass():
    check_versions(GOOD)


def test_wrong_mmcv_is_rejected_with_one_clear_message():
    with pytest.raises(VersionMismatchError) as e:
        check_versions(dict(GOOD, mmcv='2.2.0'))
    msg = str(e.value)
    assert 'mmcv: installed 2.2.0' in msg and '<2.2.0' in msg and 'mmdet 3.3.0' in msg
    assert 'tools/install.sh' in msg


def test_every_problem_is_listed():
    with pytest.raises(VersionMismatchError) as e:
        check_versions(dict(GOOD, mmcv=None, numpy='2.1.0'))
    msg = str(e.value)
    assert 'mmcv: not installed' in msg and 'numpy: installed 2.1.0' in msg


def test_mmdet_is_optional():
    check_versions(dict(GOOD, mmdet=None))  # pretraining needs no mmdet
    with pytest.warns(UserWarning, match='mmdet 3.2.0 is installed but SCL needs >=3.3.0'):
        check_versions(dict(GOOD, mmdet='3.2.0'))


def test_pretraining_imports_without_mmdet(tmp_path):
    """`import scl` and building SCL's components must not import mmdet (only detection configs need it)."""
    import subprocess
    import sys
    code = ('import sys; sys.modules["mmdet"] = None\n'  # makes `import mmdet` fail, as if not installed
            'import scl\n'
            'from mmpretrain.registry import MODELS, HOOKS\n'
            'MODELS.build(dict(type="SCLAlgorithm", queue_len=8, feat_dim=8, '
            'backbone=dict(type="ResNet", depth=18, base_channels=8), '
            'neck=dict(type="MoCoV2Neck", in_channels=64, hid_channels=8, out_channels=8), '
            'head=dict(type="SaliencyContrastiveHead")))\n'
            'HOOKS.build(dict(type="SaliencyStoreHook")); print("ok")')
    proc = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip().endswith('ok'), proc.stderr[-2000:]
