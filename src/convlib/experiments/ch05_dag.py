"""Chapter 05: DAG-MLPs trained on MNIST and CIFAR-10 (Figure 3 of Chen et al. 2022, and all 729
four-node MLP-DAGs), against the ranking their infinite-width kernels predict.

Two training settings, both on ``convlib.mlp``:

* ``released``: the released code's recipe (VITA-Group/architecture_convergence, ``mlp_code``):
  SGD without momentum or weight decay, minibatches of 128, cross-entropy, Kaiming fan-in init,
  standard parametrisation. Their run (width 1024, lr 1e-5, 1000 epochs of all of MNIST) is far
  beyond a CPU, so the sizes are parameters and the book states what it used.
* ``gd``: the theory's setting (Du et al. 2019; Chen et al. 2022): full-batch gradient descent on
  the squared loss ``mean_i 1/2 ||f(x_i) - onehot(y_i)||^2``, NTK parametrisation, one step size
  for every architecture, set to ``lr_frac`` times the largest stable step
  ``2 / max_b lambda_max(Theta_b / n)`` of the infinite-width NTKs (``kernels.ntk``).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from scipy import stats

from convlib import dag as _dag
from convlib import data, kernels, registry, theory
from convlib.mlp import DAGMLP, per_model_loss, train

FIGURE3 = {"DAG#1": "2_02_002", "DAG#2": "1_01_222", "DAG#3": "2_21_112"}
CHAPTER = "05_dag_experiments"
N_CLASSES = 10


def stable_lr(dags: Sequence[str], X: torch.Tensor, lr_frac: float, n_probe: int = 64) -> float:
    """``lr_frac * 2 / max_b lambda_max(Theta_b) / n`` for full-batch GD on the mean squared loss:
    the linearised dynamics ``r <- (I - lr Theta / n) r`` are stable for every DAG when lr_frac < 1.
    ``Theta_b`` is the infinite-width NTK on the first ``n_probe`` rows of X (one per kernel class)."""
    reps = list({_dag.canonical(d, by="kind"): d for d in dags}.values())
    Xp = X[:n_probe]
    top = torch.linalg.eigvalsh(kernels.ntk_many(reps, Xp))[:, -1].max().item()
    return lr_frac * 2.0 / (top / len(Xp))


def accuracy(model: DAGMLP, X: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    """Training accuracy of each model, ``(B,)``."""
    with torch.no_grad():
        return (model(X).argmax(-1).cpu() == y).double().mean(-1).numpy()


def _grid(dags: Sequence[str], n_seeds: int) -> tuple[list[str], list[int]]:
    """Every DAG with seeds 0..n_seeds-1 (DAG-major), as DAGMLP arguments."""
    return [d for d in dags for _ in range(n_seeds)], [s for _ in dags for s in range(n_seeds)]


@registry.experiment("ch05.figure3_released", chapter=CHAPTER)
def figure3_released(datasets: list, fig3_seeds: int, rel_n: int, rel_width: int, rel_batch: int,
                     rel_lr: float, rel_epochs: int, data_seed: int) -> dict:
    """The three Figure-3 DAGs, ``fig3_seeds`` seeds each, trained with the released recipe (SGD,
    batch ``rel_batch``, cross-entropy) on ``rel_n`` training images: mean minibatch loss per
    epoch ``<ds>_loss`` ``(3, seeds, epochs)`` and final training accuracy ``<ds>_acc`` ``(3, seeds)``."""
    out: dict = {"dags": list(FIGURE3.values())}
    dags, seeds = _grid(FIGURE3.values(), fig3_seeds)
    per_epoch = -(-rel_n // rel_batch)
    for ds in datasets:
        X, y = data.load(ds, "train", n=rel_n, seed=data_seed)
        model = DAGMLP(dags, X.shape[1], rel_width, N_CLASSES, seeds=seeds)
        run = train(model, X, y, steps=rel_epochs * per_epoch, lr=rel_lr, loss="ce", batch_size=rel_batch,
                    seed=data_seed)
        # minibatches of one epoch differ in size only in the last one: weight by size as the released code does
        sizes = np.diff(np.r_[np.arange(0, rel_n, rel_batch), rel_n])
        epochs = run["loss"].reshape(len(dags), rel_epochs, per_epoch)
        out[f"{ds}_loss"] = (epochs @ sizes / rel_n).reshape(3, fig3_seeds, rel_epochs)
        out[f"{ds}_acc"] = accuracy(model, X, y).reshape(3, fig3_seeds)
    return out


@registry.experiment("ch05.figure3_gd", chapter=CHAPTER)
def figure3_gd(datasets: list, fig3_seeds: int, gd_n: int, gd_width: int, gd_steps: int, gd_lr_frac: float,
               data_seed: int) -> dict:
    """The three Figure-3 DAGs trained by full-batch GD on the squared loss (NTK parametrisation) on
    ``gd_n`` images: ``<ds>_loss`` ``(3, seeds, steps + 1)`` (the last entry after the last step),
    the step size ``<ds>_lr`` and ``lambda_min`` of the exact / paper NNGP and the NTK on the same
    images (``<ds>_lam_exact`` ...)."""
    out: dict = {"dags": list(FIGURE3.values())}
    dags, seeds = _grid(FIGURE3.values(), fig3_seeds)
    for ds in datasets:
        X, y = data.load(ds, "train", n=gd_n, seed=data_seed)
        lr = stable_lr(list(FIGURE3.values()), X, gd_lr_frac)
        model = DAGMLP(dags, X.shape[1], gd_width, N_CLASSES, seeds=seeds, parametrization="ntk")
        run = train(model, X, y, steps=gd_steps, lr=lr, loss="mse")
        curve = np.concatenate([run["loss"], run["final_loss"][:, None]], axis=1)
        out[f"{ds}_loss"] = curve.reshape(3, fig3_seeds, gd_steps + 1)
        out[f"{ds}_acc"] = accuracy(model, X, y).reshape(3, fig3_seeds)
        out[f"{ds}_lr"] = lr
        for kernel in ("exact", "paper", "ntk"):
            out[f"{ds}_lam_{kernel}"] = theory.lambda_min_many(list(FIGURE3.values()), X, kernel=kernel)
    return out


def parameter_count(arch: str, d_in: int, width: int, d_out: int = N_CLASSES) -> int:
    """Weights of the DAG-MLP: stem ``d_in width``, ``width^2`` per linear edge, readout ``width d_out``."""
    return d_in * width + len(_dag.parse(arch).edges("linear")) * width * width + width * d_out


@registry.experiment("ch05.all_dags", chapter=CHAPTER)
def all_dags(datasets: list, space_nodes: int, space_n: int, space_width: int, space_steps: int,
             space_lr_frac: float, space_chunk: int, data_seed: int) -> dict:
    """Every MLP-DAG with ``space_nodes`` nodes after the stem (``mlp_dags``), one seed each (seed =
    index), trained by full-batch GD on the squared loss (NTK parametrisation, one step size for all)
    on ``space_n`` images for ``space_steps`` steps, in chunks of ``space_chunk`` models. Per dataset:
    ``<ds>_loss0`` and ``<ds>_lossT`` (loss before and after), ``<ds>_curve`` (every 10th step, for
    drawing), ``<ds>_lam_exact`` / ``_paper`` / ``_ntk`` (lambda_min on the same images), ``<ds>_lr``;
    per DAG the effective depth and width and the parameter count on MNIST-sized inputs."""
    dags = _dag.mlp_dags(space_nodes)
    dw = np.array([theory.effective_depth_width(d) for d in dags])
    out: dict = {"dags": dags, "depth": dw[:, 0], "width": dw[:, 1],
                 "n_linear": np.array([len(_dag.parse(d).edges("linear")) for d in dags])}
    for ds in datasets:
        X, y = data.load(ds, "train", n=space_n, seed=data_seed)
        lr = stable_lr(dags, X, space_lr_frac)
        loss0, lossT, curve = [], [], []
        for start in range(0, len(dags), space_chunk):
            chunk = dags[start:start + space_chunk]
            model = DAGMLP(chunk, X.shape[1], space_width, N_CLASSES, seeds=range(start, start + len(chunk)),
                           parametrization="ntk")
            run = train(model, X, y, steps=space_steps, lr=lr, loss="mse")
            loss0.append(run["loss"][:, 0])
            lossT.append(run["final_loss"])
            curve.append(run["loss"][:, ::10])
        out[f"{ds}_loss0"], out[f"{ds}_lossT"] = np.concatenate(loss0), np.concatenate(lossT)
        out[f"{ds}_curve"] = np.concatenate(curve).astype(np.float32)
        out[f"{ds}_lr"] = lr
        out[f"{ds}_params"] = np.array([parameter_count(d, X.shape[1], space_width) for d in dags])
        for kernel in ("exact", "paper", "ntk"):
            out[f"{ds}_lam_{kernel}"] = theory.lambda_min_many(dags, X, kernel=kernel)
    return out


def convergence_speed(loss0: np.ndarray, lossT: np.ndarray) -> np.ndarray:
    """``log(L_0 / L_T)``: how many e-folds of the loss a fixed budget removed (higher is faster; 0
    for a DAG whose output no path reaches, which cannot train; -inf/nan marks divergence)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(loss0 / lossT)


def kendall_ci(x: np.ndarray, y: np.ndarray, n_boot: int, seed: int, level: float = 0.95) -> tuple[float, float, float]:
    """Kendall's tau-b between x and y with a percentile bootstrap interval (resampling the pairs)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"x and y must be 1-D of the same length, got {x.shape} and {y.shape}")
    tau = stats.kendalltau(x, y).statistic
    rng = np.random.default_rng(seed)
    boot = np.array([stats.kendalltau(x[i], y[i]).statistic for i in rng.integers(0, len(x), (n_boot, len(x)))])
    lo, hi = np.nanquantile(boot, [(1 - level) / 2, (1 + level) / 2])
    return float(tau), float(lo), float(hi)


def paired_tau_difference(speed: np.ndarray, a: np.ndarray, b: np.ndarray, n_boot: int, seed: int,
                          level: float = 0.95) -> tuple[float, float, float]:
    """``tau(speed, a) - tau(speed, b)`` with a paired percentile bootstrap interval: does predictor
    ``a`` rank the architectures better than ``b``? (An interval above 0 says yes.)"""
    def diff(i):
        return stats.kendalltau(speed[i], a[i]).statistic - stats.kendalltau(speed[i], b[i]).statistic
    rng = np.random.default_rng(seed)
    boot = np.array([diff(i) for i in rng.integers(0, len(speed), (n_boot, len(speed)))])
    lo, hi = np.nanquantile(boot, [(1 - level) / 2, (1 + level) / 2])
    return float(diff(np.arange(len(speed)))), float(lo), float(hi)
