"""convlib: the code behind convergence-book (Chen et al. 2022; Zhou et al. 2020)."""
from pathlib import Path

__version__ = "0.1.0"
ROOT = Path(__file__).resolve().parents[2]  # the checkout: data/, book/ and the results cache live under it


__all__ = ["ROOT"]
