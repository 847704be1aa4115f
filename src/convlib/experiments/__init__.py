"""Chapter experiments, registered in ``convlib.registry.REGISTRY`` on import (one module a chapter)."""
from convlib.experiments import ch01_spaces  # noqa: F401
from convlib.experiments import ch06_nas  # noqa: F401
from convlib.experiments import ch05_dag  # noqa: F401
from convlib.experiments import ch07_prdarts  # noqa: F401
from convlib.experiments import ch02_nngp  # noqa: F401
from convlib.experiments import ch03_convergence  # noqa: F401
from convlib.experiments import ch04_depth_width  # noqa: F401
