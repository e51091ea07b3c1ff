"""Side-by-side benchmarks of sk2tensor and its peers on tree models.

``python -m benchmarks [--quick] [--device cpu|cuda]`` fits the models, runs every engine in one process on
the same rows, and writes ``benchmarks/results/<machine>-<date>.md`` and ``.png``. See ``benchmarks/README.md``.
"""
