from .scl import SCLAlgorithm, SymMoCo

__all__ = ['SCLAlgorithm', 'SymMoCo']
