"""convlib.experiments.ch05_dag: the Figure-4 run with the released recipe, its inputs and its resumption."""
import shutil

import numpy as np
import pytest
import torch

from convlib import data, registry, results
from convlib.experiments import ch05_dag

FIG4 = dict(fig4_datasets=["digits"], fig4_width=8, fig4_batch=64, fig4_lr=0.05, fig4_epochs=4, fig4_seeds=2,
            data_seed=0)


def test_figure4_resumes_from_its_checkpoint_to_the_same_numbers(tmp_path, monkeypatch):
    monkeypatch.setenv("CONVLIB_RESULTS", str(tmp_path))
    monkeypatch.setattr(ch05_dag, "CHECKPOINT_EPOCHS", 1)
    entry = results.Entry("ch05.figure4", registry.lookup("ch05.figure4").key(FIG4), "digits-3")
    full, _ = registry.compute("ch05.figure4", FIG4, "digits-3")
    assert full["train_acc"].shape == (1, 2, 4) and full["dag"] == ["2_21_112"]
    assert np.all((full["train_acc"] > 0) & (full["train_acc"] <= 1))
    shutil.rmtree(results.scratch(entry))

    real, calls = ch05_dag.train, []

    def interrupted(*args, **kwargs):
        calls.append(kwargs["seed"])
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(ch05_dag, "train", interrupted)
    with pytest.raises(KeyboardInterrupt):
        registry.compute("ch05.figure4", FIG4, "digits-3")
    assert torch.load(results.scratch(entry) / "checkpoint.pt")["epoch"] == 2
    calls.clear()
    resumed, _ = registry.compute("ch05.figure4", FIG4, "digits-3")
    assert calls == [2, 3]  # only the epochs after the checkpoint are trained again
    np.testing.assert_array_equal(resumed["train_acc"], full["train_acc"])
    np.testing.assert_array_equal(resumed["train_loss"], full["train_loss"])


@pytest.mark.requires_data("cifar10")
def test_released_inputs_use_the_release_cifar_standardisation():
    X, y = ch05_dag.released_inputs("cifar10")
    raw = data.load_images("cifar10", "train")[0]
    mean, std = (torch.tensor(v).view(1, 3, 1, 1) for v in data.CIFAR10_NORM)
    pixels = raw * std + mean
    r_mean, r_std = (torch.tensor(v).view(1, 3, 1, 1) for v in ch05_dag.RELEASE_CIFAR10_NORM)
    assert torch.allclose(X, ((pixels - r_mean) / r_std).flatten(1), atol=1e-5)
    assert X.shape == (10000, 3072) and len(y) == 10000
