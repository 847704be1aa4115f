import re
import time

import pytest
import torch

from convlib.device import clock, device_of, one_thread


def test_auto_is_cuda_when_available_else_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert device_of() == device_of("auto") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert device_of("auto") == torch.device("cuda")


def test_names_and_devices_are_accepted():
    assert device_of("cpu") == torch.device("cpu")
    assert device_of(torch.device("cpu")) == torch.device("cpu")
    assert device_of(torch.device("cpu", 0)) == torch.device("cpu", 0)


@pytest.mark.parametrize("bad", ["bogus", "", "CPU", "gpu", "cuda:", "cuda:-1", "cuda:01", "cuda:١", "cpu:x",
                                 "cuda:" + "9" * 5000, 0, None, 1.5, torch.device("meta")])
def test_a_bogus_device_names_itself_and_what_is_accepted(bad):
    with pytest.raises(ValueError) as err:
        device_of(bad)
    message = str(err.value)
    assert message.startswith("unknown device ") and len(message) < 200
    assert "'auto', 'cpu', 'cuda', 'cuda:N' or a torch.device" in message
    assert repr(bad)[:20] in message


def test_cuda_that_this_machine_lacks_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for name in ("cuda", "cuda:0", torch.device("cuda", 1)):
        with pytest.raises(ValueError, match="CUDA is not available on this machine; use 'auto' or 'cpu'"):
            device_of(name)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert device_of("cuda") == torch.device("cuda") and device_of("cuda:1") == torch.device("cuda", 1)
    with pytest.raises(ValueError, match=re.escape("device 'cuda:2': this machine has 2 CUDA device(s), cuda:0..cuda:1")):
        device_of("cuda:2")


def test_one_thread_sets_one_thread_and_restores_the_count_even_on_error():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with pytest.raises(RuntimeError, match="inside"):
            with one_thread():
                assert torch.get_num_threads() == 1
                raise RuntimeError("inside")
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_clock_is_the_threads_cpu_time_on_the_cpu():
    """Sleeping costs the thread no CPU time; work does."""
    a = clock("cpu")
    time.sleep(0.2)
    b = clock("cpu")
    sum(range(3_000_000))
    c = clock("cpu")
    assert b - a < 0.05 and c - b > 0.005


def test_clock_synchronises_a_gpu_and_reads_wall_time(monkeypatch):
    calls = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "synchronize", lambda dev=None: calls.append(dev))
    a = clock("cuda")
    time.sleep(0.1)
    b = clock("auto")
    assert calls == [torch.device("cuda")] * 2 and b - a >= 0.1
