"""The model zoo: model-index.yml imports every metafile.yml, whose entries name real configs and real numbers."""
import glob
import os.path as osp

import pytest
import yaml

from conftest import ROOT

PRETRAIN_DIRS = ('configs/scl', 'configs/mocov2')
REQUIRED = ('Name', 'Metadata', 'In Collection', 'Results', 'Config')


def load_index():
    with open(osp.join(ROOT, 'model-index.yml')) as f:
        index = yaml.safe_load(f)
    metafiles = {}
    for rel in index['Import']:
        path = osp.join(ROOT, rel)
        assert osp.isfile(path), f'model-index.yml imports {rel}, which does not exist'
        with open(path) as f:
            metafiles[rel] = yaml.safe_load(f)
    return metafiles


def all_models():
    return [(rel, m) for rel, meta in load_index().items() for m in meta['Models']]


def test_every_metafile_in_the_tree_is_imported():
    found = {osp.relpath(p, ROOT) for p in glob.glob(osp.join(ROOT, 'configs', '**', 'metafile.yml'), recursive=True)}
    assert found == set(load_index()), 'add every configs/**/metafile.yml to model-index.yml (and nothing else)'
    assert {osp.join(d, 'metafile.yml') for d in PRETRAIN_DIRS} <= found


def test_entries_have_the_model_index_fields_and_known_collections():
    for rel, meta in load_index().items():
        collections = {c['Name'] for c in meta['Collections']}
        for c in meta['Collections']:
            assert osp.isfile(osp.join(ROOT, c['README'])), (rel, c['README'])
            assert c['Paper']['URL'].startswith('https://arxiv.org/abs/'), (rel, c['Name'])
        for m in meta['Models']:
            missing = [k for k in REQUIRED if k not in m]
            assert not missing, f'{rel}: {m.get("Name")} lacks {missing}'
            assert m['In Collection'] in collections, (rel, m['Name'])


def test_names_are_unique():
    names = [m['Name'] for _, m in all_models()]
    dup = sorted({n for n in names if names.count(n) > 1})
    assert not dup, f'model names used twice: {dup}'


def test_every_named_config_exists():
    missing = [(m['Name'], m['Config']) for _, m in all_models() if not osp.isfile(osp.join(ROOT, m['Config']))]
    assert not missing, missing


def test_downstream_names_resolve():
    names = {m['Name'] for _, m in all_models()}
    dangling = [(m['Name'], d) for _, m in all_models() for d in m.get('Downstream', []) if d not in names]
    assert not dangling, dangling


@pytest.mark.parametrize('folder', PRETRAIN_DIRS)
def test_every_pretraining_config_is_listed(folder):
    listed = {m['Config'] for _, m in all_models()}
    configs = {osp.relpath(p, ROOT) for p in glob.glob(osp.join(ROOT, folder, '*.py'))}
    assert configs, folder
    assert not configs - listed, f'pretraining configs missing from the metafiles: {sorted(configs - listed)}'


def test_results_are_numbers_with_task_and_dataset():
    with_results = 0
    for _, m in all_models():
        if m['Results'] is None:
            continue
        with_results += 1
        for r in m['Results']:
            assert r['Task'] and r['Dataset'], m['Name']
            assert r['Metrics'] and all(isinstance(v, (int, float)) for v in r['Metrics'].values()), m['Name']
    assert with_results > 0


def test_coco_pretraining_claims_no_number():
    coco = [m for _, m in all_models() if m['Name'].endswith('_coco') and m['Config'].startswith(PRETRAIN_DIRS)]
    assert len(coco) == 2 and all(m['Results'] is None for m in coco)
