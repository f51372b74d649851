"""sertoolkit's benchmarks: the paper's reproduction (``reproduce_paper.py``) and CUDA / CPU
throughput (``throughput.py``). Not part of the installed library; importable as
``benchmarks.*`` from a clone installed with ``pip install -e``."""
