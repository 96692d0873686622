"""Launcher support shared by tools/train.py and tools/test.py: multi-process runs on CPU-only machines."""
import os

import torch


def revert_sync_bn(node) -> int:
    """Replace every ``type='SyncBN'`` norm config inside ``node`` (a config dict / list) by ``'BN'``; count them."""
    n = 0
    if isinstance(node, dict):
        if node.get('type') == 'SyncBN':
            node['type'] = 'BN'
            n += 1
        for value in node.values():
            n += revert_sync_bn(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            n += revert_sync_bn(value)
    return n


def prepare_launcher(cfg, launcher: str) -> None:
    """Make ``launcher`` work where there is no GPU.

    mmengine's pytorch launcher calls ``torch.cuda.set_device`` and wraps the model with ``device_ids=[LOCAL_RANK]``;
    both fail without CUDA. On a CPU-only machine we initialise the process group with gloo ourselves (mmengine then
    finds it initialised) and wrap with ``device_ids=None``. With GPUs nothing changes.
    """
    cfg.launcher = launcher
    if (launcher == 'none' or not torch.cuda.is_available()) and 'model' in cfg:
        # SyncBN needs several CUDA processes; a single process (or CPU) trains the same model with plain BN.
        n = revert_sync_bn(cfg.model)
        if n:
            print(f'scl: {n} SyncBN layers run as BN ({"single process" if launcher == "none" else "no GPU"})')
    if launcher == 'none' or torch.cuda.is_available():
        return
    import torch.distributed as dist
    if launcher == 'slurm':
        os.environ.setdefault('RANK', os.environ['SLURM_PROCID'])
        os.environ.setdefault('WORLD_SIZE', os.environ['SLURM_NTASKS'])
        os.environ.setdefault('LOCAL_RANK', os.environ.get('SLURM_LOCALID', '0'))
        os.environ.setdefault('MASTER_PORT', '29500')
        if 'MASTER_ADDR' not in os.environ:
            import subprocess
            node = subprocess.getoutput(f"scontrol show hostname {os.environ['SLURM_NODELIST']} | head -n1")
            os.environ['MASTER_ADDR'] = node
    for var in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT'):
        if var not in os.environ:
            raise RuntimeError(f'--launcher {launcher} needs {var} in the environment; start with '
                               'tools/dist_train.sh (torchrun) or tools/slurm_train.sh (srun)')
    cfg.setdefault('env_cfg', {}).setdefault('dist_cfg', {})['backend'] = 'gloo'
    if not dist.is_initialized():
        dist.init_process_group(backend='gloo')
    wrapper = dict(cfg.get('model_wrapper_cfg') or dict(type='MMDistributedDataParallel'))
    wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper
