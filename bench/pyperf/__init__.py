"""The Python benchmark of docs/performance.md: workloads, contenders, measuring, targets
(run by bench/python_performance.py)."""
