"""Chapter experiments, registered in ``convlib.registry.REGISTRY`` on import (one module a chapter): the cached
computations and every function and constant they call; what a page shows from them is in ``convlib.pages``."""
from convlib.experiments import (
    ch01_spaces,  # noqa: F401
    ch02_nngp,  # noqa: F401
    ch03_convergence,  # noqa: F401
    ch04_depth_width,  # noqa: F401
    ch05_dag,  # noqa: F401
    ch06_nas,  # noqa: F401
    ch07_prdarts,  # noqa: F401
    ch08_own_network,  # noqa: F401
)

__all__: list[str] = []
