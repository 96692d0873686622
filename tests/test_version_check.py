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
