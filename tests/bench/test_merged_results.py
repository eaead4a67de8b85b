"""A partial benchmark rerun merged into the earlier record keeps what it did not measure and says so."""

from __future__ import annotations

from bench.talking_face import merged


def test_a_speed_rerun_replaces_its_presets_and_keeps_the_rest():
    previous = {
        "benchmark": "talking_face",
        "date": "2026-11-30T07:37:29+00:00",
        "git_commit": "46fb5b99cf47",
        "device": "CPU: AMD EPYC",
        "speed": {"tiny": {"batch_fps": 33.0}, "base": {"batch_fps": 3.7}},
        "motion_statistics": {"delta_p": 0.142},
        "notes": ["an earlier note"],
    }
    fresh = {"device": "CPU: Intel Xeon", "speed": {"tiny": {"batch_fps": 35.2}}}
    results = merged(previous, fresh, ["speed"], ["tiny"])
    assert results["speed"] == {"tiny": {"batch_fps": 35.2}, "base": {"batch_fps": 3.7}}
    assert results["motion_statistics"] == {"delta_p": 0.142} and results["device"] == "CPU: Intel Xeon"
    assert "date" not in results and "git_commit" not in results  # write_results stamps the new run
    assert results["notes"][0] == "an earlier note"
    assert results["notes"][1].startswith("speed (tiny) re-measured at ")
    assert "2026-11-30T07:37:29+00:00 (commit 46fb5b9, CPU: AMD EPYC)" in results["notes"][1]
    assert previous["speed"]["tiny"] == {"batch_fps": 33.0} and fresh["speed"] == {"tiny": {"batch_fps": 35.2}}
