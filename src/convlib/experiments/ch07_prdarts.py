"""Chapter 07's cached computations (PR-DARTS, Zhou et al. 2020): the theorems on a toy cell, the Figure 2 analogue,
DARTS and PR-DARTS searches on a NAS-Bench-201 supernet scored by the benchmark, and the NB201 bridge."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from convlib import darts, data, registry, theory
from convlib.dag import mlp_dags
from convlib.device import one_thread
from convlib.nas import benchmark
from convlib.prdarts import skipnet, toy

CHAPTER = "07_pr_darts"
VEHICLES = (0, 1, 8, 9)  # CIFAR-10 airplane, automobile, ship, truck
VARIANTS = {  # name -> SearchConfig overrides
    "darts": {"method": "darts"},
    "gates_tau1": {"method": "prdarts", "tau_start": 1.0, "lambdas": (0.01, 0.005, 0.0)},
    "prdarts": {"method": "prdarts"},                       # paper: tau 10 -> 0.1
    "prdarts_tau1": {"method": "prdarts", "tau_start": 1.0},  # official code: tau 1 -> 0.1
}
"""The searches. ``SearchConfig.lambdas`` = (lambda_1, lambda_2, lambda_3) weigh L_skip, L_nonskip (the
gates' L0 sparsity terms) and L_path (the path regulariser). ``gates_tau1`` is PR-DARTS with lambda_3 = 0:
its stochastic gates and L0 terms, no path regulariser (the ablation of the paper's Figure 1(e)), at the
released code's schedule tau 1 -> 0.1, under which the regulariser's gradient acts from the first step
(at the paper's tau = 10 it is below 1e-10), so that ``prdarts_tau1`` against it isolates the path term."""


def toy_data(toy_samples: int, toy_pixels: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """CIFAR-10 training images pooled to ``toy_pixels`` x ``toy_pixels``, centred, as unit rows
    (Assumption 3); target +1 for vehicles and -1 for animals."""
    X, y = data.load_images("cifar10", "train", n=toy_samples, seed=seed)
    X = F.adaptive_avg_pool2d(X, toy_pixels).flatten(1)
    return toy.unit_rows(X - X.mean(0)), torch.where(torch.isin(y, torch.tensor(VEHICLES)), 1.0, -1.0).double()


def _gd(cells, X, y, width: int, eta: float, steps: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """GD losses (B, steps + 1) of fresh nets and each net's Gram drift ||G(T) - G(0)||_F / ||G(0)||_F."""
    net = toy.ToyNet(cells, X.shape[1], width, seed=seed)
    g0 = sum(toy.gram_blocks(net, X).values())
    losses = toy.gd_losses(net, X, y, eta, steps)
    gk = sum(toy.gram_blocks(net, X).values())
    return losses, (torch.linalg.norm(gk - g0, dim=(-2, -1)) / torch.linalg.norm(g0, dim=(-2, -1))).numpy()


@registry.experiment("ch07.theorem1", chapter=CHAPTER)
def theorem1(toy_h: int, toy_samples: int, toy_pixels: int, toy_alphas: int, alpha_scale: float, widths: list,
             gd_width: int, gd_eta: float, gd_steps: int, drift_nets: int, seed: int) -> dict:
    """lambda_PR (both readings) against lambda_min of the kept Gram block and of the full Gram matrix at
    each width, and against the late GD decay rate at ``gd_width`` (with lambda_min(G) of those nets,
    ``lam_gd``), over random softmax weights; the
    relative Gram drift during GD of the first ``drift_nets`` nets at each width."""
    with one_thread():
        X, y = toy_data(toy_samples, toy_pixels, seed)
        cells = [toy.dense_cell(a) for a in toy.random_alphas(toy_h, toy_alphas, alpha_scale, seed)]
        eig = np.stack([toy.gram_eigs_many(cells, X, w, seed) for w in widths])  # (W, A, 2)
        lam_gd = toy.gram_eigs_many(cells, X, gd_width, seed)[:, 1]  # the nets _gd trains, at initialisation
        losses, drift = _gd(cells, X, y, gd_width, gd_eta, gd_steps, seed)
        drift_w = np.stack([_gd(cells[:drift_nets], X, y, w, gd_eta, gd_steps, seed)[1] for w in widths])
    return {**{f"lambda_pr_{r}": np.array([toy.lambda_pr(c, r) for c in cells]) for r in toy.READINGS},
            "widths": np.asarray(widths), "lam_last": eig[..., 0], "lam_full": eig[..., 1],
            "lam_gd": lam_gd, "losses": losses, "rate": toy.decay_rate(losses), "drift": drift,
            "drift_by_width": drift_w}


@registry.experiment("ch07.theorem4", chapter=CHAPTER)
def theorem4(toy_h: int, toy_samples: int, toy_pixels: int, t4_draws: int, gd_width: int, gd_eta: float,
             gd_steps: int, seed: int) -> dict:
    """Deep cell A (one dense chain) against shallow cell B (two branches) with the same gate values,
    gates ~ U(0, 1) independently per operation (Theorem 4's setting); same weight seeds for A and B."""
    with one_thread():
        X, y = toy_data(toy_samples, toy_pixels, seed)
        gates = np.random.default_rng(seed).uniform(size=(t4_draws, toy_h * (toy_h - 1) // 2, 3))
        out = {}
        for name, cells in (("A", [toy.dense_cell(g) for g in gates]),
                            ("B", [toy.two_branch(toy.dense_cell(g)) for g in gates])):
            out[f"lam_pr_{name}"] = np.array([toy.lambda_pr(c) for c in cells])
            out[f"lam_{name}"] = toy.gram_eigs_many(cells, X, gd_width, seed)[:, 1]
            net = toy.ToyNet(cells, X.shape[1], gd_width, seed=seed)
            out[f"loss_{name}"] = toy.gd_losses(net, X, y, gd_eta, gd_steps)
            out[f"rate_{name}"] = toy.decay_rate(out[f"loss_{name}"])
    return out


@registry.experiment("ch07.binary_gram", chapter=CHAPTER)
def binary_gram(toy_samples: int, toy_pixels: int, bin_width: int, bin_cells: int, seed: int) -> dict:
    """For the first ``bin_cells`` of the 729 binary cells (zero / skip / conv on each of 6 edges, the
    NAS-Bench-201 kind classes): lambda_PR in both readings and lambda_min of the kept and full Gram
    (every cell's net drawn from the same seed)."""
    with one_thread():
        X, _ = toy_data(toy_samples, toy_pixels, seed)
        archs = mlp_dags(3)[:bin_cells]
        cells = [toy.cell_from_dag(a) for a in archs]
        eig = np.concatenate([toy.gram_eigs(toy.ToyNet(c, X.shape[1], bin_width, seed=seed), X)
                              for c in cells])
    return {"archs": archs, **{f"lambda_pr_{r}": np.array([toy.lambda_pr(c, r) for c in cells]) for r in toy.READINGS},
            "lam_last": eig[:, 0], "lam_full": eig[:, 1]}


@registry.experiment("ch07.skip_fraction", chapter=CHAPTER)
def skip_fraction(fig2_fractions: list, fig2_cells: int, fig2_C: int, fig2_images: int, image_size: int,
                  fig2_epochs: int, fig2_seeds: list, batch_size: int) -> dict:
    """Figure 2 analogue: training-loss curves of the same cell network with a fraction of its ops skips."""
    X, y = data.load_images("cifar10", "train", n=fig2_images, seed=0)
    X = F.adaptive_avg_pool2d(X, image_size)
    with one_thread():
        curves = np.array([[skipnet.train_curve(skipnet.SkipNet(fig2_cells, fig2_C, f, seed=s), X, y, fig2_epochs,
                                                batch_size, seed=s) for s in fig2_seeds] for f in fig2_fractions])
    return {"fractions": np.asarray(fig2_fractions), "curves": curves}


def _describe(arch: str) -> tuple[int, float, float, float]:
    """(skip_connect count, effective depth, effective width, NB201 CIFAR-10 test accuracy) of a pick."""
    d, m = theory.effective_depth_width(arch)
    return arch.count("skip_connect"), d, m, float(benchmark.accuracy([arch], "cifar10")[0])


def search_shards(variants: list, search_seeds: list, **_) -> list[str]:
    """One shard per (variant, seed), variant by variant: ``darts-0``, ``darts-1``, ..."""
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise ValueError(f"variants must be among {list(VARIANTS)}, got {unknown}")
    return [f"{v}-{s}" for v in variants for s in search_seeds]


def search_grid(parts: list[dict]) -> dict:
    """The shards of ``ch07.search`` joined (``registry.concat``) and every per-search array shaped
    (variants, seeds, ...) in shard order; ``variant``, ``seed`` and the picks stay flat."""
    out = registry.concat(parts)
    n_variants = len(dict.fromkeys(out["variant"]))
    flat = ("seed",)
    return {k: v.reshape(n_variants, -1, *v.shape[1:]) if isinstance(v, np.ndarray) and k not in flat else v
            for k, v in out.items()}


@registry.experiment("ch07.search", chapter=CHAPTER, shards=search_shards, combine=search_grid)
def search_runs(variants: list, search_seeds: list, search_images: int, image_size: int, search_epochs: int,
                search_C: int, search_N: int, batch_size: int, arch_lr: float, shard: str) -> dict:
    """One search of ``shard`` = ``<variant>-<seed>`` (first-order, ``VARIANTS``) on ``search_images``
    CIFAR-10 training images (half for weights, half for the architecture) at ``image_size`` pixels: per
    epoch the temperature, training loss, the regulariser's and its path term's share of the architecture
    gradient, the scores, and each rule's pick described (skips, depth, width, NAS-Bench-201 accuracy)."""
    name, seed = shard.rsplit("-", 1)
    X, y = data.load_images("cifar10", "train", n=search_images, seed=0)
    X = F.adaptive_avg_pool2d(X, image_size)
    with one_thread():
        cfg = darts.SearchConfig(**{**VARIANTS[name], "epochs": search_epochs, "batch_size": batch_size,
                                    "C": search_C, "N": search_N, "arch_lr": arch_lr, "seed": int(seed)})
        hist = darts.search(X, y, cfg)
    out = {"variant": [name], "seed": np.array([int(seed)]), "scores": hist["scores"][None]}
    out |= {k: np.array([hist[k]]) for k in ("tau", "train_loss", "reg_share", "path_share")}
    for r in darts.RULES:
        desc = np.array([_describe(arch) for arch in hist[f"picks_{r}"]])  # (epochs, 4)
        out |= {f"{key}_{r}": desc[None, :, i] for i, key in enumerate(("skips", "depth", "width", "acc"))}
        out[f"picks_{r}"] = [hist[f"picks_{r}"][-1]]
    return out


@registry.experiment("ch07.nb201_bridge", chapter=CHAPTER)
def nb201_bridge() -> dict:
    """Every NAS-Bench-201 cell (benchmark order): lambda_PR in both readings with binary weights (conv
    kind -> conv, skip kind -> skip), the full-depth chain indicator (binary L_path), effective depth and
    width, and the benchmark's test accuracies."""
    table = benchmark.load()
    cells = [toy.cell_from_dag(a) for a in table["arch"]]
    dm = np.array([theory.effective_depth_width(a) for a in table["arch"]])
    chain = [(l, l + 1) for l in range(3)]
    return {**{f"lambda_pr_{r}": np.array([toy.lambda_pr(c, r) for c in cells]) for r in toy.READINGS},
            "path": np.array([float(all(c.alpha[t, s, toy.CONV] == 1 for s, t in chain)) for c in cells]),
            "depth": dm[:, 0], "width": dm[:, 1],
            **{k: table[k].to_numpy() for k in benchmark.DATASETS}}


__all__ = [
    "VARIANTS", "theorem1", "theorem4", "binary_gram", "skip_fraction", "search_shards", "search_grid", "search_runs",
    "nb201_bridge"
]
