"""Chapter 08's page: whole networks on the (d, m) plane beside the NAS-Bench-201 cells, and their table."""
from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd

from convlib import dag, present, theory
from convlib.nas import DARTS_DEPTH_RANGE, DARTS_WIDTH_RANGE, DEPTH_RANGE, WIDTH_RANGE, in_box

BOXES = {"NAS-Bench-201": (DEPTH_RANGE, WIDTH_RANGE), "DARTS": (DARTS_DEPTH_RANGE, DARTS_WIDTH_RANGE)}
ABBREVIATED = {"NAS-Bench-201": "NB201"}  # table headers stay narrow


def nb201_plane() -> pd.DataFrame:
    """The distinct (d, m) of the NAS-Bench-201 cells with the number of cells at each."""
    dw = pd.DataFrame([theory.effective_depth_width(a) for a in dag.nb201_cells()], columns=["d", "m"])
    return dw.value_counts().rename("cells").reset_index()


def table(R: dict) -> present.Table:
    """One row a model: its name, d, m, log2 of the number of paths, parameterised layers, the range of path
    depths, whether it lies in each box, and seconds (``present.table``: fixed decimals, no NaN)."""
    dm = np.column_stack([R["depth"], R["width"]])
    rows = {
        "model": [short(s) for s in R["models"]],
        "d": np.asarray(R["depth"], float),
        "m": np.asarray(R["width"], float),
        "log2 paths": [math.log2(int(p)) for p in R["paths"]],
        "layers": [int(n) for n in R["layers"]],
        "path depths": [f"{a}\u2013{b}" for a, b in zip(R["shortest"], R["longest"])],
        **{f"{ABBREVIATED.get(name, name)} box": ["in" if i else "out" for i in in_box(dm, *box)]
           for name, box in BOXES.items()},
        "seconds": np.asarray(R["seconds"], float),
    }
    return present.table(pd.DataFrame(rows), {"d": "{:.2f}", "m": "{:.3g}", "log2 paths": "{:.3g}",
                                              "layers": "{:,d}", "seconds": "{:.2f}"})


NAMES = ((r"wide_resnet(\d+)_(\d+)", r"WRN-\1-\2"), (r"resnet(\d+)", r"ResNet-\1"), (r"densenet(\d+)", r"DenseNet-\1"),
         (r"vgg(\d+)", r"VGG-\1"), (r"mobilenet_v(\d)", r"MobileNetV\1"), (r"efficientnet_b(\d)", r"EfficientNet-B\1"))


def short(spec: str) -> str:
    """The display name of a model spec: the callable's name, torchvision's written as in its papers
    (``torchvision.models.resnet50`` -> ``ResNet-50``)."""
    if spec.startswith("nb201:"):
        d, m = theory.effective_depth_width(spec[len("nb201:"):])
        return f"NAS-Bench-201 net (cell d = {d:.2f}, m = {m:.2f})"
    name = spec.rpartition(":")[2].rpartition(".")[2]
    for pattern, written in NAMES:
        if re.fullmatch(pattern, name):
            return re.sub(pattern, written, name)
    return name


def facts(R: dict, cells: pd.DataFrame) -> dict[str, object]:
    """The numbers the chapter's prose quotes, for any list of models: the deepest and the widest model,
    the largest path count (and ``extremes``, a sentence naming the models with the most paths and the
    largest depth, once when they are the same), models sharing (d, m), how many of the models whose name gives a depth
    (ResNet-50) have a longest path of that depth, with an example (``_named_example``), how many lie in a box, the
    slowest time, and the
    NAS-Bench-201 cells with a parameterised path that lie in the NAS-Bench-201 box."""
    names, d, m = [short(s) for s in R["models"]], R["depth"], R["width"]
    most = int(np.argmax([int(p) for p in R["paths"]]))
    groups = pd.Series(names).groupby([np.round(d, 9), np.round(m, 9)]).agg(list)
    same = [" and ".join(g) for g in groups if len(g) > 1]
    dm = np.column_stack([d, m])
    live = cells[cells["d"] > 0]
    named = [(x, int(n.group(1)), int(hi)) for x, n, hi in zip(names, (re.match(r"(?:ResNet|WRN|DenseNet|VGG)-(\d+)", x)
                                                                   for x in names), R["longest"]) if n]
    packages = {f"{s.partition('.')[0]} {v}" for s, v in zip(R["models"], R["versions"]) if ":" not in s}
    deepest, log2_paths = names[int(np.argmax(d))], math.log2(int(R["paths"][most]))
    paths = f"the most paths (log\u2082 P = {log2_paths:.0f})"
    extremes = (f"{deepest} has both {paths} and the largest effective depth, {d.max():.1f}" if names[most] == deepest
                else f"{names[most]} has {paths} and {deepest} the largest effective depth, {d.max():.1f}")
    return {
        "n_models": len(names), "versions": ", ".join(sorted(packages)) or "-", "torch_version": R["torch"],
        "deepest": deepest, "deepest_d": float(d.max()), "widest": names[int(np.argmax(m))], "widest_m": float(m.max()),
        "most_paths": names[most], "most_paths_log2": log2_paths, "extremes": extremes,
        "same_dm": "; ".join(same) if same else "none",
        "named_depths": len(named), "named_equal": sum(a == b for _, a, b in named),
        "named_example": _named_example(named),
        "in_any_box": int((in_box(dm) | in_box(dm, *BOXES["DARTS"])).sum()),
        "slowest": names[int(np.argmax(R["seconds"]))], "slowest_s": float(R["seconds"].max()),
        "nb201_live": int(live["cells"].sum()),
        "nb201_in_box": int(live["cells"][in_box(live[["d", "m"]].to_numpy())].sum()),
        "nb201_max_d": float(cells["d"].max()), "nb201_max_m": float(cells["m"].max()),
        **nb201_network_facts(R),
    }


def _named_example(named: list[tuple[str, int, int]]) -> str:
    """Of the (name, depth in the name, longest path) triples, the first whose two depths agree (else the first) for
    the text: "ResNet-18, 18 in its name and 18 on its longest path"; "none" when there is none."""
    if not named:
        return "none"
    name, depth, longest = next((t for t in named if t[1] == t[2]), named[0])
    return f"{name}, {depth} in its name and {longest} on its longest path"


SUPERSCRIPT = str.maketrans("0123456789", "\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079")


def residual_chain(blocks: int = 50) -> dict[str, object]:
    """A chain of ``blocks`` residual blocks (``TinyResNet(blocks, head=False)``, two convs per branch) scored by
    ``netgraph``, beside its closed forms P = 2^B, d = B, m = (2^B - 1) / B: ``chain_blocks``, ``chain_paths``
    ("2\u2075\u2070 = 1,125,899,906,842,624" when the count is 2^B), ``chain_d``, ``chain_m`` and ``chain_check``
    ("equal to" the closed forms, or "different from" them)."""
    from convlib import netgraph
    from convlib.experiments.ch08_own_network import TinyResNet

    c = netgraph.score(TinyResNet(blocks=blocks, head=False))
    power = f"2{str(blocks).translate(SUPERSCRIPT)}"
    # exact integers: S = B 2^B (a path takes j blocks, 2 j convs; sum_j j C(B, j) = B 2^(B-1)), Q = 2^B - 1
    exact = c.paths == 2 ** blocks and c.depth_sum == blocks * 2 ** blocks and c.deep_paths == 2 ** blocks - 1
    return {"chain_blocks": blocks,
            "chain_paths": f"{power} = {c.paths:,}" if c.paths == 2 ** blocks else f"{c.paths:,} (not {power})",
            "chain_d": float(c.effective_depth), "chain_m": float(c.effective_width),
            "chain_check": "equal to" if exact else "different from"}


def nb201_network_facts(R: dict) -> dict[str, object]:
    """For the first NAS-Bench-201 network of ``R``: its cell's (d, m) (``theory``), whether the cell is in
    the box, and the network's (d, m); dashes when there is none."""
    k = next((i for i, s in enumerate(R["models"]) if s.startswith("nb201:")), None)
    if k is None:
        return {key: "-" for key in ("nb201_cell_d", "nb201_cell_m", "nb201_cell_in_box", "nb201_net_d", "nb201_net_m")}
    cell = theory.effective_depth_width(R["models"][k][len("nb201:"):])
    return {"nb201_cell_d": cell[0], "nb201_cell_m": cell[1], "nb201_cell_in_box": "inside" if in_box(cell)[0]
            else "outside", "nb201_net_d": float(R["depth"][k]), "nb201_net_m": float(R["width"][k])}


def plane_figure(R: dict, cells: pd.DataFrame):
    """The (d, m) plane on log axes: the NAS-Bench-201 cells with a parameterised path (area by count),
    the two boxes, and each model, labelled."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    live = cells[cells["d"] > 0]
    ax.scatter(live["d"], live["m"], s=4 + 60 * live["cells"] / live["cells"].max(), color="#999999",
               alpha=0.6, label="NAS-Bench-201 cells")
    for (name, ((d0, d1), (m0, m1))), colour in zip(BOXES.items(), ("#E69F00", "#009E73")):
        ax.add_patch(Rectangle((d0, m0), d1 - d0, m1 - m0, fill=False, lw=1.5, ec=colour, label=f"{name} box"))
    ax.scatter(R["depth"], R["width"], color="#0072B2", zorder=3, label="whole networks")
    points = pd.DataFrame({"name": [short(s) for s in R["models"]], "d": R["depth"], "m": R["width"]})
    labels = points.groupby(["d", "m"], sort=True)["name"].agg(" = ".join).reset_index()
    d, logm = labels["d"].to_numpy(), np.log10(labels["m"].to_numpy())
    for i, row in labels.iterrows():  # coinciding models share one label; left of a point crowded on its right
        crowded = np.any((d > d[i]) & (d <= 2 * d[i]) & (np.abs(logm - logm[i]) < 1))
        ax.annotate(row["name"], (row["d"], row["m"]), xytext=(-6 if crowded else 6, 0), textcoords="offset points",
                    fontsize=8, va="center", ha="right" if crowded else "left")
    ax.set(xscale="log", yscale="log", xlabel="effective depth d (parameterised layers per path)",
           ylabel="effective width m (deep paths / d)")
    ax.legend(loc="upper left", fontsize=8)
    zoom = ax.inset_axes([0.42, 0.48, 0.33, 0.47])  # the cells and boxes again, on linear axes
    zoom.scatter(live["d"], live["m"], s=6 + 90 * live["cells"] / live["cells"].max(), color="#999999", alpha=0.6)
    for ((d0, d1), (m0, m1)), colour in zip(BOXES.values(), ("#E69F00", "#009E73")):
        zoom.add_patch(Rectangle((d0, m0), d1 - d0, m1 - m0, fill=False, lw=1.5, ec=colour))
    corners = np.array([[box[0][1], box[1][1]] for box in BOXES.values()] + [[live["d"].max(), live["m"].max()]])
    zoom.set(xlim=(0, corners[:, 0].max() * 1.08), ylim=(0, corners[:, 1].max() * 1.08))
    zoom.set_title("cells and boxes, linear axes", fontsize=8)
    zoom.tick_params(labelsize=7)
    fig.tight_layout()
    return fig


__all__ = ["nb201_plane", "table", "short", "facts", "residual_chain", "plane_figure"]
