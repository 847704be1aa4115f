"""convlib.device: device names checked with a clear message, and the one-thread context."""
import pytest
import torch

from convlib.device import device_of, one_thread


def test_auto_and_named_devices():
    assert device_of("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert device_of("cpu") == torch.device("cpu") == device_of(torch.device("cpu"))


@pytest.mark.parametrize("bad, why", [("bogus", "unknown device 'bogus'"), ("meta", "unsupported device 'meta'"),
                                      (3, "must be a string or torch.device"), ("x" * 500, "unknown device 'xxxx")])
def test_bad_devices_are_named(bad, why):
    with pytest.raises(ValueError, match=why) as err:
        device_of(bad)
    assert "'auto', 'cpu', 'cuda'" in str(err.value) and len(str(err.value)) < 200


@pytest.mark.skipif(torch.cuda.is_available(), reason="a machine with CUDA accepts it")
def test_cuda_without_cuda_is_a_clear_error():
    with pytest.raises(ValueError, match="CUDA is not available"):
        device_of("cuda:0")


def test_one_thread_restores_the_thread_count():
    before = torch.get_num_threads()
    with one_thread():
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with pytest.raises(KeyError), one_thread():
        raise KeyError
    assert torch.get_num_threads() == before
