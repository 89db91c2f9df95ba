"""Numba kernels over id arrays, each with a numpy twin that gives the same result.

Importing a kernel module imports numba; `import tokfree` does not. The twins are there for machines
without numba and as the oracle the hypothesis tests compare the kernels against.
"""

__all__: list[str] = []
