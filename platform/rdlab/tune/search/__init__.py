"""Built-in search algorithms (:class:`rdlab.study.algorithm.SearchAlgorithm`), one per file.

Each module registers its algorithm with ``@SEARCH_ALGORITHMS.register(name)``;
:data:`rdlab.registry.SEARCH_ALGORITHMS` imports every public module here on its first
lookup, so a new sampler is one new file. Modules here import neither Ray nor Optuna at
module level (the spec parser loads them); ``build`` does, when a study runs.
"""
