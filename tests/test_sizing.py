"""What model jobs ask the scheduler for (bibleft.sizing)."""

from __future__ import annotations

from bibleft import sizing


def test_generation_uses_at_most_one_gpu():
    assert [sizing.generate_gpus(n) for n in (0, 1, 4)] == [0, 1, 1]


def test_threads_follow_the_gpus_and_a_cpu_job_gets_one_share():
    assert sizing.threads(0, 8) == 8
    assert sizing.threads(1, 8) == 8
    assert sizing.threads(4, 8) == 32


def test_memory_grows_with_the_model_and_with_each_retry():
    # GPT-2 Large (774M): the weights and the optimizer's copy on the host, plus headroom.
    assert sizing.train_mem_mb(774) == 4000 + 12 * 774
    assert sizing.train_mem_mb(774, attempt=2) == 2 * sizing.train_mem_mb(774)
    assert sizing.train_mem_mb(1558) > sizing.train_mem_mb(774) > sizing.train_mem_mb(124)
    assert sizing.generate_mem_mb(774) < sizing.train_mem_mb(774)
    assert sizing.generate_mem_mb(774, attempt=3) == 3 * sizing.generate_mem_mb(774)


def test_runtime_scales_with_epochs_and_size_above_a_floor():
    # The study: 4 epochs of GPT-2 Large at 40 min per epoch per billion parameters.
    assert sizing.train_runtime_min(774, epochs=4) == int(40 * 4 * 774 / 1000)
    assert sizing.train_runtime_min(774, epochs=8) > sizing.train_runtime_min(774, epochs=4)
    assert sizing.train_runtime_min(135, epochs=1) == 30  # the floor
    assert sizing.train_runtime_min(135, epochs=1, attempt=2) == 60
    assert sizing.generate_runtime_min(135) == 20
    assert sizing.generate_runtime_min(1558) == int(20 * 1558 / 1000)
