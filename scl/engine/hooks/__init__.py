from .saliency_store_hook import SaliencyStoreHook, attach_saliency_store

__all__ = ['SaliencyStoreHook', 'attach_saliency_store']
from .saliency_visualization_hook import SaliencyVisualizationHook  # noqa: E402

__all__ += ['SaliencyVisualizationHook']
from .pretrained_check_hook import PretrainedCheckError, PretrainedCheckHook  # noqa: E402

__all__ += ['PretrainedCheckHook', 'PretrainedCheckError']
from .queue_check_hook import QueueLengthCheckHook  # noqa: E402

__all__ += ['QueueLengthCheckHook']
from .knn_monitor_hook import KNNMonitorHook  # noqa: E402

__all__ += ['KNNMonitorHook']
