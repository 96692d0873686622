from .mocov2 import SymMoCo, check_queue_len
from .scl import SCLAlgorithm

__all__ = ['SCLAlgorithm', 'SymMoCo', 'check_queue_len']
