"""A GPU's speed goes beside the CPU's in the robustness results, each labelled with its device."""

from __future__ import annotations

from bench.watermark_robustness import speed_key, speed_markdown

CPU = "CPU: test, 2 cores"
SPEED = {"embed_fps": 30.0, "embed_fps_range": [28.0, 33.0], "extract_fps": 100.0, "extract_fps_range": [90.0, 110.0]}


def test_a_gpu_measurement_does_not_take_the_cpus_place() -> None:
    assert speed_key("cpu") == "speed_512"
    assert speed_key("cuda") == speed_key("cuda:1") != speed_key("cpu")


def test_each_speed_line_names_its_own_device() -> None:
    gpu = speed_markdown(SPEED | {"device": "NVIDIA H200 (CUDA 13.0)"}, run_device=CPU)
    assert gpu.strip().startswith("NVIDIA H200 (CUDA 13.0): embed 30.0 fps (28.0-33.0), extract 100.0 fps")
    # Older measurements carry no device: they were made on the run's.
    assert speed_markdown(SPEED, run_device=CPU).strip().startswith(f"{CPU}: embed 30.0 fps")
