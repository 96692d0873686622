"""scl/ uses only public OpenMMLab APIs: no private names imported from them, no private attributes of the runner,
its loops, dataloaders or samplers (an mmengine upgrade would break those silently)."""
import ast
import glob
import os.path as osp

from conftest import ROOT

OPENMMLAB = ('mmengine', 'mmcv', 'mmpretrain', 'mmdet')
FRAMEWORK_OBJECTS = {'runner', 'loop', 'dataloader', 'sampler', 'train_loop', 'iterator', 'dataloader_iterator'}


def private_uses(path):
    tree = ast.parse(open(path).read(), path)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or '').split('.')[0] in OPENMMLAB:
            found += [f'from {node.module} import {a.name}' for a in node.names if a.name.startswith('_')]
            found += [f'from {node.module} import ...' for part in node.module.split('.') if part.startswith('_')]
        elif isinstance(node, ast.Attribute) and node.attr.startswith('_') and not node.attr.startswith('__'):
            owner = node.value
            name = owner.id if isinstance(owner, ast.Name) else owner.attr if isinstance(owner, ast.Attribute) else ''
            if name in FRAMEWORK_OBJECTS:
                found.append(f'{name}.{node.attr}')
        elif (isinstance(node, ast.Call) and getattr(node.func, 'id', None) in ('getattr', 'hasattr', 'setattr')
              and len(node.args) >= 2 and isinstance(node.args[1], ast.Constant)
              and str(node.args[1].value).startswith('_') and not str(node.args[1].value).startswith('__')):
            found.append(f'{node.func.id}(..., {node.args[1].value!r})')
    return [f'{osp.relpath(path, ROOT)}:{node_text}' for node_text in found]


def test_scl_uses_no_private_openmmlab_api():
    files = glob.glob(osp.join(ROOT, 'scl', '**', '*.py'), recursive=True)
    assert len(files) > 20
    uses = [u for f in files for u in private_uses(f)]
    assert not uses, uses


def test_the_check_catches_what_it_looks_for(tmp_path):
    bad = tmp_path / 'bad.py'
    bad.write_text('from mmengine.runner.loops import _InfiniteDataloaderIterator\n'
                   'def f(runner, loop):\n    loop.dataloader._iterator = None\n    return getattr(runner, "_resume")\n')
    assert len(private_uses(str(bad))) == 3
