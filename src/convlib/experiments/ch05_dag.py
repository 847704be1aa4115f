"""Chapter 05's cached computations: DAG-MLPs trained on MNIST and CIFAR-10 (Figure 3 of Chen et al. 2022, and
all 729 four-node MLP-DAGs), and the lambda_min their infinite-width kernels predict the ranking by.

Two training settings, both on ``convlib.mlp``:

* ``figure4``: the paper's Figure 4 with the released code's recipe (VITA-Group/architecture_convergence,
  ``mlp_code``): width 1024, biases, Kaiming fan-in init including the readout, cross-entropy, SGD
  without momentum or weight decay, minibatches of 128, learning rate 1e-5, three runs. Their run is
  1,000 epochs of 54,000 MNIST images; ours covers ``fig4_epochs`` epochs of the offline training
  split, resumable from checkpoints, and the book states how far it got.
* ``gd``: the theory's setting (Du et al. 2019; Chen et al. 2022): full-batch gradient descent on
  the squared loss ``mean_i 1/2 ||f(x_i) - onehot(y_i)||^2``, NTK parametrisation, one step size
  for every architecture, set to ``lr_frac`` times the smallest over the architectures of the optimal
  constant step ``2 / (lambda_max + lambda_min)`` of ``Theta_b / n`` (``theory.largest_step``), ``Theta_b``
  the infinite-width NTKs (``kernels.ntk``).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from convlib import dag as _dag
from convlib import data, kernels, registry, theory
from convlib.dag import FIGURE3
from convlib.experiments import ch03_convergence
from convlib.mlp import DAGMLP, train
from convlib.seeds import derive

CHAPTER = "05_dag_experiments"
N_CLASSES = 10


def stable_lr(dags: Sequence[str], X: torch.Tensor, lr_frac: float, n_probe: int = 64) -> float:
    """``lr_frac`` times the smallest ``theory.largest_step`` of ``Theta_b / n`` over the DAGs, for full-batch
    GD on the mean squared loss, whose linearised dynamics are ``r <- (I - lr Theta / n) r``.
    ``Theta_b`` is the infinite-width NTK on the first ``n_probe`` rows of X (one per kernel class)."""
    reps = list({_dag.canonical(d, by="kind"): d for d in dags}.values())
    Xp = X[:n_probe]
    spectra = torch.linalg.eigvalsh(kernels.ntk_many(reps, Xp)) / len(Xp)
    return lr_frac * float(theory.largest_step(spectra).min())


def accuracy(model: DAGMLP, X: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    """Training accuracy of each model, ``(B,)``."""
    with torch.no_grad():
        return (model(X).argmax(-1).cpu() == y).double().mean(-1).numpy()


def _grid(dags: Sequence[str], n_seeds: int) -> tuple[list[str], list[int]]:
    """Every DAG with seeds 0..n_seeds-1 (DAG-major), as DAGMLP arguments."""
    return [d for d in dags for _ in range(n_seeds)], [s for _ in dags for s in range(n_seeds)]


RELEASE_CIFAR10_NORM = ((0.49139968, 0.48215827, 0.44653124), (0.2023, 0.1994, 0.2010))  # mlp_code/dataset.py
RECHECK_EPOCHS = 3
CHECKPOINT_EPOCHS = 5


def released_inputs(dataset: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The whole offline training split, flattened, standardised as the released code does: MNIST with
    (0.1307, 0.3081) as ours; CIFAR-10 with the release's constants ``RELEASE_CIFAR10_NORM`` (its std
    is the usual 0.2023, 0.1994, 0.2010, not the per-pixel std our loader uses)."""
    X, y = data.load(dataset, "train")
    if dataset == "cifar10":
        (m0, s0), (m1, s1) = (tuple(torch.tensor(v).view(1, 3, 1) for v in norm)
                              for norm in (data.CIFAR10_NORM, RELEASE_CIFAR10_NORM))
        X = ((X.view(len(X), 3, -1) * s0 + m0 - m1) / s1).reshape(len(X), -1)
    return X, y


def figure4_shards(fig4_datasets: list, **_) -> list[str]:
    """One shard per (dataset, Figure-3 DAG): ``mnist-1`` ... ``cifar10-3``."""
    return [f"{ds}-{k}" for ds in fig4_datasets for k in range(1, len(FIGURE3) + 1)]


def _save(path, state: dict) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    tmp.replace(path)


def figure4_probes(params: dict, walls: dict, rng: np.random.Generator) -> list[registry.Probe]:
    """A recheck of Figure 4 trains the cheapest shard for its first ``RECHECK_EPOCHS`` epochs only and
    compares them with the stored curves' first epochs (epoch e's minibatches depend on e alone)."""
    shard, k = min(walls, key=lambda s: (walls[s], s)), min(RECHECK_EPOCHS, params["fig4_epochs"])
    return [registry.Probe(shard, shard, f"shard {shard}, epochs 1-{k}", {"fig4_epochs": k},
                           lambda key, v: v[..., :k] if isinstance(v, np.ndarray) else v)]


@registry.experiment("ch05.figure4", chapter=CHAPTER, shards=figure4_shards, probes=figure4_probes)
def figure4(fig4_datasets: list, fig4_width: int, fig4_batch: int, fig4_lr: float, fig4_epochs: int,
            fig4_seeds: int, data_seed: int, shard: str) -> dict:
    """Chen et al. (2022) Figure 4 with the released code's recipe (``mlp_code``): one Figure-3 DAG as a
    width-``fig4_width`` MLP with biases (zero at initialisation), Kaiming-normal fan-in weights, the
    readout included (``readout_gain=2``), cross-entropy, SGD with minibatches of ``fig4_batch`` and
    learning rate ``fig4_lr``, no momentum, weight decay or augmentation, ``fig4_seeds`` runs, for
    ``fig4_epochs`` epochs of the offline training split (``released_inputs``). Per epoch, the training
    accuracy as the release reports it (correct predictions of each minibatch before its update, over
    the epoch) and the mean minibatch loss: ``train_acc``, ``train_loss`` ``(1, seeds, epochs)``.
    A checkpoint every ``CHECKPOINT_EPOCHS`` epochs (``registry.scratch``) lets a stopped run resume;
    epoch e's minibatches come from ``derive(data_seed, "figure4.epoch", e)``, so a resumed run is identical."""
    ds, k = shard.rsplit("-", 1)
    arch = list(FIGURE3.values())[int(k) - 1]
    X, y = released_inputs(ds)
    n, per_epoch = len(X), -(-len(X) // fig4_batch)
    sizes = np.diff(np.r_[np.arange(0, n, fig4_batch), n])
    model = DAGMLP([arch] * fig4_seeds, X.shape[1], fig4_width, N_CLASSES,
                   seeds=[derive(data_seed, "figure4.init", s) for s in range(fig4_seeds)], bias=True, readout_gain=2.0)
    acc, loss = np.zeros((fig4_seeds, fig4_epochs)), np.zeros((fig4_seeds, fig4_epochs))
    checkpoint, start = registry.scratch() / "checkpoint.pt", 0
    if checkpoint.exists():
        state = torch.load(checkpoint)
        model.load_state_dict(state["model"])
        start = state["epoch"]
        acc[:, :start], loss[:, :start] = state["acc"][:, :start].numpy(), state["loss"][:, :start].numpy()
    for epoch in range(start, fig4_epochs):
        run = train(model, X, y, steps=per_epoch, lr=fig4_lr, loss="ce", batch_size=fig4_batch,
                    seed=derive(data_seed, "figure4.epoch", epoch), evaluate=False)
        acc[:, epoch] = run["correct"].sum(1) / n
        loss[:, epoch] = run["loss"] @ sizes / n
        if (epoch + 1) % CHECKPOINT_EPOCHS == 0 and epoch + 1 < fig4_epochs:
            _save(checkpoint, {"model": model.state_dict(), "epoch": epoch + 1,
                               "acc": torch.from_numpy(acc), "loss": torch.from_numpy(loss)})
    return {"dataset": [ds], "dag": [arch], "train_acc": acc[None], "train_loss": loss[None]}


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


# ---------------------------------------------------------------------- the output scale removed
def own_steps(dags: Sequence[str], X: torch.Tensor, lr_frac: float, n_probe: int = 64) -> np.ndarray:
    """``lr_frac`` times each DAG's OWN ``theory.largest_step`` of ``Theta_b / n`` (``stable_lr`` takes the
    smallest over the DAGs instead): GD with the output scale removed, since ``eta_b Theta_b`` is then
    invariant under ``Theta_b -> c Theta_b``; 0 for a DAG whose output no path reaches (Theta_b = 0)."""
    keys, reps = ch03_convergence.kinds(list(dags))
    Xp = X[:n_probe]
    spectra = torch.linalg.eigvalsh(kernels.ntk_many(reps, Xp)) / len(Xp)
    step = (lr_frac * theory.largest_step(spectra)).numpy()[keys]
    return np.where(np.isfinite(step), step, 0.0)


def per_model_steps(model: DAGMLP, steps: np.ndarray) -> list:
    """Gradient hooks that multiply model b's gradient by ``steps[b]``: plain SGD at ``lr=1`` then takes the
    step ``steps[b]`` on model b (every parameter's first axis is the model). Returns the hook handles."""
    handles = []
    for p in model.parameters():
        s = torch.as_tensor(steps, dtype=p.dtype, device=p.device).view(-1, *[1] * (p.ndim - 1))
        handles.append(p.register_hook(lambda g, s=s: g * s))
    return handles


def _gd_runs(dags: list[str], seeds: list[int], X: torch.Tensor, y: torch.Tensor, width: int, steps: int,
             lr: float | np.ndarray) -> dict:
    """Full-batch GD on the squared loss (NTK parametrisation): one step ``lr`` for all, or per model."""
    model = DAGMLP(dags, X.shape[1], width, N_CLASSES, seeds=seeds, parametrization="ntk")
    handles = [] if np.isscalar(lr) else per_model_steps(model, np.asarray(lr))
    run = train(model, X, y, steps=steps, lr=float(lr) if np.isscalar(lr) else 1.0, loss="mse")
    for h in handles:
        h.remove()
    return run


@registry.experiment("ch05.figure3_scale_free", chapter=CHAPTER)
def figure3_scale_free(datasets: list, fig3_seeds: int, gd_n: int, gd_width: int, gd_steps: int, gd_lr_frac: float,
                       data_seed: int) -> dict:
    """``ch05.figure3_gd`` again with the output scale removed: each Figure-3 DAG at ``gd_lr_frac`` of its
    own optimal step ``2 / (lambda_max + lambda_min)`` (``own_steps``), same inputs, widths and seeds.
    ``<ds>_loss`` ``(3, seeds, steps + 1)``, ``<ds>_steps`` (3,), and ``spectrum_stats`` of the exact NNGP
    and the NTK on the same images (``<ds>_exact_lam``, ``_lmax``, ``_diag``, ``<ds>_ntk_...``)."""
    arch = list(FIGURE3.values())
    out: dict = {"dags": arch}
    dags, seeds = _grid(arch, fig3_seeds)
    for ds in datasets:
        X, y = data.load(ds, "train", n=gd_n, seed=data_seed)
        step = own_steps(arch, X, gd_lr_frac)
        run = _gd_runs(dags, seeds, X, y, gd_width, gd_steps, np.repeat(step, fig3_seeds))
        curve = np.concatenate([run["loss"], run["final_loss"][:, None]], axis=1)
        out[f"{ds}_loss"], out[f"{ds}_steps"] = curve.reshape(3, fig3_seeds, gd_steps + 1), step
        for kernel in ("exact", "ntk"):
            out |= {f"{ds}_{kernel}_{k}": v for k, v in ch03_convergence.spectrum_stats(arch, X, kernel).items()}
    return out


def seeds_shards(datasets: list, **_) -> list[str]:
    """One shard per dataset and step rule: ``mnist-fixed``, ``mnist-own``, ..."""
    return [f"{ds}-{mode}" for ds in datasets for mode in ("fixed", "own")]


def merge(parts: list[dict]) -> dict:
    """Join shards that each add their own keys; a key two shards share must hold the same value."""
    out: dict = {}
    for part in parts:
        for k, v in part.items():
            if k in out and not np.array_equal(np.asarray(out[k]), np.asarray(v)):
                raise ValueError(f"shards disagree on {k!r}")
            out.setdefault(k, v)
    return out


@registry.experiment("ch05.all_dags_seeds", chapter=CHAPTER, shards=seeds_shards, combine=merge)
def all_dags_seeds(datasets: list, space_nodes: int, space_n: int, space_width: int, space_steps: int,
                   space_lr_frac: float, space_seeds: int, data_seed: int, shard: str) -> dict:
    """``ch05.all_dags`` with ``space_seeds`` seeds per DAG (DAG i of seed s drawn from
    ``derive(s, "space.init", i) = 1000 s + i``; s = 0 is the single seed of ``ch05.all_dags``), trained at
    one step for all (``stable_lr``, as there; shard ``<ds>-fixed``) or with the output scale removed
    (``own_steps``; shard ``<ds>-own``): ``<ds>_speed_<mode>`` ``(seeds, DAGs)`` (``convergence_speed``),
    ``<ds>_lr``, ``<ds>_steps`` and ``spectrum_stats`` of the exact NNGP and the NTK (``<ds>_exact_lam`` ...)."""
    ds, mode = shard.split("-")
    dags = _dag.mlp_dags(space_nodes)
    dw = np.array([theory.effective_depth_width(d) for d in dags])
    X, y = data.load(ds, "train", n=space_n, seed=data_seed)
    lr, step = stable_lr(dags, X, space_lr_frac), own_steps(dags, X, space_lr_frac)
    speed = []
    for s in range(space_seeds):
        run = _gd_runs(dags, [derive(s, "space.init", i) for i in range(len(dags))], X, y, space_width, space_steps,
                       lr if mode == "fixed" else step)
        speed.append(convergence_speed(run["loss"][:, 0], run["final_loss"]))
    out: dict = {"dags": dags, "depth": dw[:, 0], "width": dw[:, 1], f"{ds}_speed_{mode}": np.array(speed),
                 f"{ds}_lr": lr, f"{ds}_steps": step}
    for kernel in ("exact", "ntk"):
        out |= {f"{ds}_{kernel}_{k}": v for k, v in ch03_convergence.spectrum_stats(dags, X, kernel).items()}
    return out


__all__ = [
    "stable_lr", "RELEASE_CIFAR10_NORM", "released_inputs", "figure4", "figure3_gd", "all_dags", "convergence_speed",
    "own_steps", "per_model_steps", "figure3_scale_free", "merge", "all_dags_seeds"
]
