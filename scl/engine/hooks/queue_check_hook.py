from mmengine.dist import get_world_size
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmpretrain.registry import HOOKS

from scl.models.selfsup.mocov2 import check_queue_len


@HOOKS.register_module()
class QueueLengthCheckHook(Hook):
    """Before training, check that a MoCo-style queue fits the global batch (one clear error instead of an assert
    inside the first step).

    A queue of ``queue_len`` keys takes ``keys_per_sample x batch per GPU x GPUs`` keys per step (2 per sample for
    :class:`~scl.models.selfsup.SymMoCo` / SCL, 1 for mmpretrain's ``MoCo``); it must be a multiple of that, or the
    queue would wrap in the middle of a batch. A model without ``queue_len`` is not checked (the hook is harmless in
    every config).
    """

    priority = 'VERY_HIGH'

    def before_train(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        if not hasattr(model, 'queue_len'):
            return
        batch = runner.train_dataloader.batch_size
        check_queue_len(model.queue_len, getattr(model, 'keys_per_sample', 1) * batch * get_world_size())
