"""`facejax bench`: compile time, step time, images/s, memory and MFU of a family's training step,
its PyTorch eager baseline, and the input pipeline's throughput (facejax/bench/core.py)."""
