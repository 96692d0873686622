import json
import os
import os.path as osp
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

from conftest import ROOT, load_script, shrink_selfsup_cfg

CLS = osp.join(ROOT, 'configs/benchmarks/classification/scenes')
LINEAR = osp.join(CLS, 'resnet18_scl-pre_1xb64-linear-coslr-20e_scenes.py')
SEMI = {p: osp.join(CLS, f'resnet18_scl-pre_1xb64-coslr-20e_scenes-{p}pct.py') for p in (1, 10)}
DET = osp.join(ROOT, 'configs/benchmarks/mmdetection/scenes/mask-rcnn_r18-fpn_scl-pre_600i_scenes.py')


@pytest.fixture(scope='module')
def pretrained(tiny_data, tmp_path_factory):
    """A 1-iteration SCL checkpoint at the demo's backbone width (what the scene benchmarks expect)."""
    wd = str(tmp_path_factory.mktemp('pre'))
    cfg = shrink_selfsup_cfg(Config.fromfile(osp.join(ROOT, 'configs/scl/scl_resnet18_1xb32-coslr-300i_demo.py')),
                             tiny_data, wd, iters=1)
    cfg.model.backbone.base_channels = 32
    cfg.model.neck.in_channels = 256
    cfg.custom_hooks = cfg.custom_hooks[:1]
    Runner.from_cfg(cfg).train()
    return osp.join(wd, 'iter_1.pth')


def cls_cfg(path, tiny_data, work_dir, checkpoint):
    cfg = Config.fromfile(path)
    cfg.work_dir = work_dir
    cfg.model.backbone.init_cfg.checkpoint = checkpoint
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[key].dataset.data_root = osp.join(tiny_data, 'cls')
        cfg[key].num_workers = 0
        cfg[key].persistent_workers = False
    cfg.train_cfg.max_epochs = 1
    cfg.train_cfg.val_interval = 1
    cfg.param_scheduler = [dict(type='ConstantLR', factor=1.0)]
    cfg.log_level = 'WARNING'
    return cfg


def test_linear_probe_freezes_backbone_and_reports_accuracy(tiny_data, tmp_path, pretrained):
    runner = Runner.from_cfg(cls_cfg(LINEAR, tiny_data, str(tmp_path), pretrained))
    head_init = runner.model.head.fc.weight.detach().clone()
    runner.train()
    metrics = runner.val_loop.run()
    assert 0 <= metrics['accuracy/top1'] <= 100
    after = runner.model.state_dict()
    ckpt = torch.load(pretrained, map_location='cpu')['state_dict']
    # The backbone (BN statistics included) holds exactly the pretrained tensors after training: loaded and frozen.
    backbone = [k for k in after if k.startswith('backbone.')]
    assert backbone and all(torch.equal(after[k], ckpt[k]) for k in backbone)
    assert not torch.equal(head_init, after['head.fc.weight'])  # only the linear head moved


@pytest.mark.parametrize('pct', [1, 10])
def test_semi_supervised_fine_tunes_everything_on_the_subset(tiny_data, tmp_path, pretrained, pct):
    cfg = cls_cfg(SEMI[pct], tiny_data, str(tmp_path), pretrained)
    runner = Runner.from_cfg(cfg)
    assert len(runner.train_dataloader.dataset) == {1: 10, 10: 10}[pct]  # >= 1 per class of the 60 tiny images
    runner.train()
    after = runner.model.state_dict()['backbone.layer4.1.conv2.weight']
    assert not torch.equal(after, torch.load(pretrained, map_location='cpu')['state_dict'][
        'backbone.layer4.1.conv2.weight']), 'the backbone was fine-tuned'
    assert 'accuracy/top1' in runner.val_loop.run()


@pytest.mark.slow
def test_mask_rcnn_transfer_on_demo_scenes_prints_coco_map(tiny_data, tmp_path, pretrained, capsys):
    cfg = Config.fromfile(DET)
    cfg.work_dir = str(tmp_path)
    cfg.model.backbone.init_cfg.checkpoint = pretrained
    root = osp.join(tiny_data, 'scenes') + '/'
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[key].dataset.data_root = root
        cfg[key].num_workers = 0
        cfg[key].persistent_workers = False
    cfg.val_evaluator.ann_file = cfg.test_evaluator.ann_file = root + 'annotations/instances_val.json'
    cfg.train_cfg.max_iters = cfg.train_cfg.val_interval = 2
    cfg.model.test_cfg.rcnn.score_thr = 0.0  # two iterations: keep every detection so that COCO eval runs
    cfg.log_level = 'INFO'
    from scl.utils.launch import prepare_launcher
    prepare_launcher(cfg, 'none')  # single process: SyncBN -> BN
    runner = Runner.from_cfg(cfg)
    runner.train()
    metrics = runner.val_loop.run()
    assert 'coco/bbox_mAP' in metrics and 'coco/segm_mAP' in metrics
    assert 'Average Precision' in capsys.readouterr().out


def test_detection_without_checkpoint_stops_with_instructions(tmp_path, tiny_data):
    cfg = Config.fromfile(DET)
    cfg.work_dir = str(tmp_path)
    root = osp.join(tiny_data, 'scenes') + '/'
    cfg.train_dataloader.dataset.data_root = cfg.val_dataloader.dataset.data_root = root
    cfg.val_evaluator.ann_file = root + 'annotations/instances_val.json'
    from scl.engine.hooks import PretrainedCheckError
    from scl.utils.launch import prepare_launcher
    prepare_launcher(cfg, 'none')
    with pytest.raises(PretrainedCheckError, match='no pretrained checkpoint given.*tools/benchmarks'):
        Runner.from_cfg(cfg).train()


@pytest.mark.parametrize('change,match', [
    (dict(prefix='backbone_q.'), 'wrong prefix'),
    (dict(prefix='encoder_k.'), 'does not fit the model'),  # the momentum encoder: module.0.* keys
    (dict(checkpoint='torchvision://resnet18'), 'supervised'),
    (dict(checkpoint='/nonexistent/ckpt.pth'), 'does not exist'),
])
@pytest.mark.slow
def test_bad_pretrained_settings_fail(tiny_data, tmp_path, pretrained, change, match):
    cfg = cls_cfg(LINEAR, tiny_data, str(tmp_path), pretrained)
    cfg.model.backbone.init_cfg.update(change)
    from scl.engine.hooks import PretrainedCheckError
    with pytest.raises(PretrainedCheckError, match=match):
        Runner.from_cfg(cfg).train()


def test_a_checkpoint_of_another_width_fails(tiny_data, tmp_path, pretrained):
    cfg = cls_cfg(LINEAR, tiny_data, str(tmp_path), pretrained)
    cfg.model.backbone.base_channels = 64
    cfg.model.head.in_channels = 512
    from scl.engine.hooks import PretrainedCheckError
    with pytest.raises(PretrainedCheckError, match='shape mismatches'):
        Runner.from_cfg(cfg).train()


def run_tool(*args, **env):
    return subprocess.run([sys.executable if a == 'PY' else a for a in args], capture_output=True, text=True,
                          env=dict(os.environ, **env), cwd=ROOT, timeout=300)


@pytest.mark.slow
def test_benchmark_launcher_refuses_without_checkpoint_and_names_work_dir(tiny_data, tmp_path, pretrained):
    launcher = osp.join(ROOT, 'tools/benchmarks/classification/train.sh')
    proc = run_tool('bash', launcher, LINEAR, str(tmp_path / 'missing.pth'), '1', PYTHON=sys.executable)
    assert proc.returncode == 2 and 'missing.pth' in proc.stderr and 'does not exist' in proc.stderr
    proc = run_tool('bash', launcher, LINEAR)
    assert proc.returncode == 2 and 'usage' in proc.stderr
    opts = [f'{k}.dataset.data_root={tiny_data}/cls' for k in ('train_dataloader', 'val_dataloader',
                                                                'test_dataloader')]
    opts += [f'{k}.num_workers=0' for k in ('train_dataloader', 'val_dataloader', 'test_dataloader')]
    opts += [f'{k}.persistent_workers=False' for k in ('train_dataloader', 'val_dataloader', 'test_dataloader')]
    opts += ['train_cfg.max_epochs=1', 'train_cfg.val_interval=1']
    proc = run_tool('bash', launcher, LINEAR, pretrained, '1', *opts, PYTHON=sys.executable,
                    WORK_DIR=str(tmp_path / 'run'))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert osp.isfile(tmp_path / 'run' / 'epoch_1.pth')
    # Without WORK_DIR the directory is named after the config and the checkpoint: two runs never collide.
    other = tmp_path / 'other_run' / 'iter_1.pth'
    other.parent.mkdir()
    other.write_bytes(open(pretrained, 'rb').read())
    dirs = []
    for ckpt in (pretrained, str(other)):
        proc = run_tool('bash', launcher, LINEAR, ckpt, '1', DRY_RUN='1')
        assert proc.returncode == 0, proc.stderr
        dirs.append(proc.stdout.split('work dir ')[1].split()[0])
    assert dirs[0] == ('work_dirs/benchmarks/resnet18_scl-pre_1xb64-linear-coslr-20e_scenes/'
                       f'{osp.basename(osp.dirname(pretrained))}_iter_1')
    assert dirs[1].endswith('/other_run_iter_1') and dirs[0] != dirs[1]


# ---------------------------------------------------------------------------------------------------------------
# checkpoint tools
# ---------------------------------------------------------------------------------------------------------------
@pytest.fixture(scope='module')
def r18_checkpoint(tmp_path_factory):
    """A MoCo-style checkpoint of a standard-width ResNet-18 (what torchvision can represent)."""
    from mmpretrain.registry import MODELS
    import scl  # noqa: F401
    torch.manual_seed(0)
    model = MODELS.build(
        dict(type='SymMoCo', queue_len=16, feat_dim=8, backbone=dict(type='ResNet', depth=18),
             neck=dict(type='MoCoV2Neck', in_channels=512, hid_channels=16, out_channels=8, with_avg_pool=True),
             head=dict(type='ContrastiveHead', loss=dict(type='CrossEntropyLoss'))))
    for m in model.backbone.modules():  # non-trivial BN statistics
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    path = str(tmp_path_factory.mktemp('r18') / 'moco_r18.pth')
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), path)
    return path, model


@pytest.mark.slow
def test_extract_then_torchvision_gives_the_same_features(r18_checkpoint, tmp_path):
    import torchvision
    path, model = r18_checkpoint
    tools = osp.join(ROOT, 'tools/model_converters')
    proc = run_tool('PY', osp.join(tools, 'extract_backbone.py'), path, str(tmp_path / 'bb.pth'))
    assert proc.returncode == 0, proc.stderr
    extracted = torch.load(tmp_path / 'bb.pth', map_location='cpu')['state_dict']
    assert extracted and all(k.startswith('backbone.') for k in extracted)
    proc = run_tool('PY', osp.join(tools, 'convert_to_torchvision.py'), str(tmp_path / 'bb.pth'),
                    str(tmp_path / 'tv.pth'))
    assert proc.returncode == 0, proc.stderr
    assert 'backbone.layer1.0.conv1.weight -> layer1.0.conv1.weight' in proc.stdout
    assert 'only fc.weight / fc.bias are new' in proc.stdout
    tv = torchvision.models.resnet18()
    tv.fc = torch.nn.Identity()
    tv.load_state_dict(torch.load(tmp_path / 'tv.pth', map_location='cpu'))
    tv.eval()
    model.backbone.eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        ours = model.backbone(x)[-1].mean(dim=(2, 3))
        theirs = tv(x)
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)


def test_detectron2_conversion_names(r18_checkpoint, tmp_path):
    path, _ = r18_checkpoint
    proc = run_tool('PY', osp.join(ROOT, 'tools/model_converters/convert_to_detectron2.py'), path,
                    str(tmp_path / 'd2.pkl'))
    assert proc.returncode == 0, proc.stderr
    assert 'backbone.bn1.weight -> stem.conv1.norm.weight' in proc.stdout
    model = pickle.load(open(tmp_path / 'd2.pkl', 'rb'))['model']
    for key in ('stem.conv1.weight', 'res2.0.conv1.norm.running_var', 'res3.0.shortcut.weight',
                'res5.1.conv2.norm.bias', 'res4.0.shortcut.norm.weight'):
        assert key in model
    assert all(isinstance(v, np.ndarray) for v in model.values())
    assert not any('num_batches_tracked' in k or 'layer' in k or 'bn' in k for k in model)


@pytest.mark.slow
def test_converters_reject_checkpoints_without_a_backbone(tmp_path):
    torch.save(dict(state_dict={'head.fc.weight': torch.zeros(2, 2)}), tmp_path / 'head.pth')
    for tool in ('extract_backbone.py', 'convert_to_torchvision.py', 'convert_to_detectron2.py'):
        proc = run_tool('PY', osp.join(ROOT, 'tools/model_converters', tool), str(tmp_path / 'head.pth'),
                        str(tmp_path / 'out'))
        assert proc.returncode == 2 and "no key starts with 'backbone.'" in proc.stderr, (tool, proc.stderr)
        assert not osp.exists(tmp_path / 'out')


def test_torchvision_conversion_rejects_a_narrow_resnet(pretrained, tmp_path):
    proc = run_tool('PY', osp.join(ROOT, 'tools/model_converters/convert_to_torchvision.py'), pretrained,
                    str(tmp_path / 'tv.pth'))
    assert proc.returncode == 2 and 'no torchvision counterpart' in proc.stderr


@pytest.mark.parametrize('config', ['coco/mask-rcnn_r50-c4_scl-pre_1x_coco.py',
                                    'voc0712/faster-rcnn_r50-c4_scl-pre_ms-18k_voc0712.py'])
def test_c4_configs_take_stage_4_from_the_same_checkpoint(config, tmp_path):
    """A ResNet-50 pretraining checkpoint covers the C4 backbone (stages 1-3) and the RoI shared head (stage 4)."""
    from mmdet.registry import MODELS as DET_MODELS
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS

    from scl.engine.hooks.pretrained_check_hook import check_pretrained_keys
    from scl.utils.launch import revert_sync_bn
    cfg = Config.fromfile(osp.join(ROOT, 'configs/benchmarks/mmdetection', config))
    revert_sync_bn(cfg.model)
    init_default_scope('mmpretrain')
    r50 = MODELS.build(dict(type='ResNet', depth=50))
    ckpt = str(tmp_path / 'r50.pth')
    torch.save(dict(state_dict={f'backbone.{k}': v for k, v in r50.state_dict().items()}), ckpt)
    init_default_scope('mmdet')
    detector = DET_MODELS.build(cfg.model)
    hook = next(h for h in cfg.custom_hooks if h['type'] == 'PretrainedCheckHook')
    covered = set()
    for name in ('backbone', 'roi_head.shared_head'):
        result = check_pretrained_keys(detector.get_submodule(name), ckpt, 'backbone.',
                                       allow_unexpected=hook['allow_unexpected'][name])
        assert not result['missing']
        covered |= {f'{name}.{k}' for k in result['state']}
    assert covered >= {k for k in detector.state_dict() if k.startswith(('backbone.', 'roi_head.shared_head.'))}
    assert len(covered) == len(r50.state_dict())  # every pretrained tensor lands exactly once


def put_in_hub_cache(monkeypatch, tmp_path, url, state):
    """Place ``state`` where torch.hub keeps ``url`` once downloaded (what mmengine's Pretrained init reads)."""
    cache = tmp_path / 'torch_home' / 'hub' / 'checkpoints'
    cache.mkdir(parents=True, exist_ok=True)
    torch.save(state, cache / osp.basename(url))
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))


def pretrained_hook(cfg):
    return next(h for h in cfg.custom_hooks if h['type'] == 'PretrainedCheckHook')


def test_allow_supervised_hub_weights_are_checked_and_loaded(tiny_data, tmp_path, pretrained, monkeypatch):
    """``allow_supervised=True`` with ``torchvision://`` weights: checked like a local file (its classifier ``fc``
    aside), then loaded; before the fix the check was skipped and before_train then aborted."""
    from mmengine.runner.checkpoint import get_torchvision_models
    url = get_torchvision_models()['resnet18']
    backbone = {k[len('backbone.'):]: v for k, v in torch.load(pretrained)['state_dict'].items()
                if k.startswith('backbone.')}
    supervised = {k: torch.randn_like(v) if v.is_floating_point() else v for k, v in backbone.items()}
    put_in_hub_cache(monkeypatch, tmp_path, url, dict(supervised, **{'fc.weight': torch.zeros(1000, 256),
                                                                      'fc.bias': torch.zeros(1000)}))
    cfg = cls_cfg(LINEAR, tiny_data, str(tmp_path / 'wd'), 'torchvision://resnet18')
    cfg.model.backbone.init_cfg.pop('prefix')  # torchvision keys carry no prefix
    pretrained_hook(cfg)['allow_supervised'] = True
    runner = Runner.from_cfg(cfg)
    runner.train()
    torch.testing.assert_close(runner.model.backbone.conv1.weight, supervised['conv1.weight'])


def test_url_checkpoints_are_checked_and_loaded(tiny_data, tmp_path, pretrained, monkeypatch):
    url = 'https://example.invalid/checkpoints/scl_resnet18_demo.pth'
    put_in_hub_cache(monkeypatch, tmp_path, url, torch.load(pretrained))
    cfg = cls_cfg(LINEAR, tiny_data, str(tmp_path / 'wd'), url)
    runner = Runner.from_cfg(cfg)
    runner.train()
    torch.testing.assert_close(runner.model.backbone.conv1.weight,
                               torch.load(pretrained)['state_dict']['backbone.conv1.weight'])
    # A wrong prefix is caught for remote checkpoints as for local ones.
    cfg = cls_cfg(LINEAR, tiny_data, str(tmp_path / 'wd2'), url)
    cfg.model.backbone.init_cfg.prefix = 'neck.'
    from scl.engine.hooks import PretrainedCheckError
    with pytest.raises(PretrainedCheckError, match='does not fit|wrong prefix'):
        Runner.from_cfg(cfg).train()


def test_unreachable_url_checkpoint_is_a_clear_error(tiny_data, tmp_path, monkeypatch):
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'empty_torch_home'))
    cfg = cls_cfg(LINEAR, tiny_data, str(tmp_path / 'wd'), 'https://example.invalid/missing.pth')
    from scl.engine.hooks import PretrainedCheckError
    with pytest.raises(PretrainedCheckError, match='cannot load .*example.invalid/missing.pth.*local file'):
        Runner.from_cfg(cfg).train()


@pytest.mark.slow
def test_throughput_benchmark_writes_its_ratios_and_parts(tiny_data, tmp_path):
    tool = load_script('tools/analysis_tools/benchmark_throughput.py')
    out = tmp_path / 'throughput.json'
    assert tool.main(['--data', tiny_data, '--iters', '2', '--warmup', '1', '--rounds', '1',
                      '--threads', '1', '--json', str(out), '--markdown', str(tmp_path / 'throughput.md')]) == 0
    res = json.load(open(out))
    for arm in ('scl', 'mocov2_paired'):
        parts = res['arms'][arm]
        assert all(parts[k] > 0 for k in ('runner_s', 'prebuilt_s', 'forward_s', 'backward_s', 'checkpoint_s'))
    assert res['arms']['scl']['saliency_s'] > 0 and res['arms']['mocov2_paired']['saliency_s'] < 1e-3
    assert res['ratios']['data_overhead'] == pytest.approx(res['arms']['scl']['runner_s']
                                                           / res['arms']['scl']['prebuilt_s'])
    assert {'LoadImageFromFileCached', 'SaliencyCropTransform', 'FusedColorJitter', 'FusedRandomGrayscale',
            'FusedRandomFlip', 'PackInputs', tool.SEEDING, tool.LOADER_WAIT, tool.REST} <= set(res['pipeline'])
    # the parts are timed in the Runner, inside its loader wait (mmengine's data_time): they fit in it
    timed = [v for k, v in res['pipeline'].items() if k not in (tool.LOADER_WAIT, tool.REST)]
    assert all(v > 0 for v in timed) and 0 < sum(timed) <= res['pipeline'][tool.LOADER_WAIT]
    assert res['pipeline'][tool.REST] == pytest.approx(res['pipeline'][tool.LOADER_WAIT] - sum(timed))
    assert res['meta']['machine_info']['threads'] == 1 and 'data_overhead' in open(tmp_path / 'throughput.md').read()


@pytest.mark.slow
def test_throughputs_v2_way_runs_an_arm_with_the_pipeline_v2_ran(tiny_data, capsys):
    """--versus-v2's subprocess: one arm in the Runner, with mmcv's LoadImageFromFile, mmpretrain's ColorJitter and
    mmcv's RandomGrayscale and RandomFlip in place of the cached loader and the fused transforms."""
    tool = load_script('tools/analysis_tools/benchmark_throughput.py')
    args = tool.parse_args(['--one-run', 'scl_crops_only', '--legacy-pipeline', '--data', tiny_data, '--iters', '2',
                            '--warmup', '1', '--threads', '1'])
    cfg = tool.arm_config('scl_crops_only', tiny_data, 'cpu', 3, '/tmp/unused')
    from scl.benchmarks.scene.arms import LEGACY_PIPELINE
    cfg.merge_from_dict(LEGACY_PIPELINE)
    pipe = cfg.train_dataloader.dataset.pipeline
    assert pipe[0]['type'] == 'LoadImageFromFile' and pipe[2]['transforms'][0]['transforms'][0]['type'] == 'ColorJitter'
    assert [t['type'] for t in pipe[2]['transforms'][1:]] == ['RandomGrayscale', 'RandomFlip']
    assert tool.one_run(args) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])['runner_s'] > 0


def test_throughput_markdown_states_the_v2_way_beside_the_new_default(tmp_path):
    tool = load_script('tools/analysis_tools/benchmark_throughput.py')
    arms = {a: dict(runner_s=0.5, data_wait_s=0.05, prebuilt_s=0.45, forward_s=0.2, backward_s=0.2, step_s=0.01,
                    saliency_s=0.0, checkpoint_s=0.3) for a in tool.ARMS}
    v2 = dict(arms=list(tool.V2_WAY_ARMS), new_default_s_per_iter={a: 0.5 for a in tool.V2_WAY_ARMS},
              v2_way_s_per_iter={a: 1.6 for a in tool.V2_WAY_ARMS}, pretrain_iters=4000, eval_s=139.0,
              v2_way_arm_seed_s=6539.0, new_default_arm_seed_s=2139.0, speedup_vs_v2=6539 / 2139)
    res = dict(meta=dict(command='x', machine='m', commit='c', date='d', machine_info=dict(threads=2)),
               ratios=dict(data_overhead=1.1, scl_over_mocov2=1.0, speedup_vs_v2=v2['speedup_vs_v2']), arms=arms,
               pipeline=dict(pipeline_total=0.001), versus_v2=v2)
    tool.write_markdown(str(tmp_path / 't.md'), res)
    text = (tmp_path / 't.md').read_text()
    assert '| speedup_vs_v2 (arm-seed wall time, v2 way / new default) | 3.06 | >= 3 |' in text
    assert '| scl_crops_only | 1.600 | 0.500 |' in text and '| arm-seed wall time (s) | 6539 | 2139 |' in text


def test_throughput_compares_the_ways_by_wall_and_machine_time_per_arm_seed(tmp_path):
    tool = load_script('tools/analysis_tools/benchmark_throughput.py')
    arms = ('mocov2', 'scl', 'scl_crops_only')
    v2 = tool.compare_ways(dict(v2_way=dict(mocov2=1.1, scl=1.2, scl_crops_only=1.3),
                                new_default=dict.fromkeys(arms, 0.5),
                                new_2_side_by_side=dict(mocov2=0.7, scl=0.7),
                                new_3_side_by_side=dict.fromkeys(arms, 0.9)), n=1000, eval_s=100.0)
    # by hand: k side by side share the wall time; evaluation runs alone
    assert v2['arm_seed_wall_s'] == pytest.approx(dict(v2_way=1300.0, new_default=600.0, new_2_side_by_side=800.0,
                                                       new_3_side_by_side=1000.0))
    assert v2['machine_s_per_arm_seed'] == pytest.approx(dict(v2_way=500.0, new_default=600.0,
                                                              new_2_side_by_side=450.0, new_3_side_by_side=400.0))
    assert v2['fastest_new_way'] == 'new_3_side_by_side' and v2['machine_speedup_vs_v2'] == pytest.approx(1.25)
    assert v2['speedup_vs_v2'] == pytest.approx(1300 / 600)
    res = dict(meta=dict(command='x', machine='m', commit='c', date='d', machine_info=dict(threads=2)),
               ratios=dict(data_overhead=1.1, scl_over_mocov2=1.0, speedup_vs_v2=v2['speedup_vs_v2'],
                           machine_speedup_vs_v2=1.25),
               arms={a: dict(runner_s=0.5, data_wait_s=0.05, prebuilt_s=0.45, forward_s=0.2, backward_s=0.2,
                             step_s=0.01, saliency_s=0.0, checkpoint_s=0.3) for a in tool.ARMS},
               pipeline=dict(pipeline_total=0.001), versus_v2=v2)
    tool.write_markdown(str(tmp_path / 't.md'), res)
    text = (tmp_path / 't.md').read_text()
    assert '| scl_crops_only | 1.300 | 0.500 | - | 0.900 |' in text
    assert '| machine time per arm-seed (s) | 500 | 600 | 450 | 400 |' in text
    assert 'Fastest new way for a benchmark: new 3 side by side' in text
