"""Running untrusted or unbounded work in killable processes: the worker pool (pool.py) and the code sandbox."""
