"""eai: energy-aware LLM deployment recommender.

The ``recommender`` package is the light half of eai: the measured table, the
catalogs, the regressor, the rules and the CLI. It never imports torch,
transformers or pynvml, so ``eai recommend`` starts fast. Measurement lives in
the separate ``profiler`` package (extra ``profile``).
"""

__version__ = "0.1.0"
