"""Chapter 01's page: how our canonical-form classes of the cells agree with the benchmark's."""
from __future__ import annotations

import numpy as np


def agreement(ours: np.ndarray, theirs) -> dict[str, int]:
    """How two partitions of the same cells agree: class counts, joint classes, and the classes of
    each side that hold more than one class of the other (``ours`` and ``theirs`` are labels per cell)."""
    import pandas as pd

    t = pd.DataFrame({"ours": np.asarray(ours), "theirs": np.asarray(theirs)})
    return {"ours": int(t["ours"].nunique()), "theirs": int(t["theirs"].nunique()),
            "joint": int(t.groupby(["ours", "theirs"]).ngroups),
            "ours_merging": int((t.groupby("ours")["theirs"].nunique() > 1).sum()),
            "theirs_merging": int((t.groupby("theirs")["ours"].nunique() > 1).sum())}


__all__ = ["agreement"]
