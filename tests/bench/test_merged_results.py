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


def test_a_second_rerun_still_names_the_full_run():
    """The record of a rerun carries the date of that rerun; what the rest is from stays the full run."""
    full = {"date": "2026-11-30T07:37:29+00:00", "git_commit": "46fb5b99cf47", "device": "CPU: AMD EPYC", "speed": {}}
    first = merged(full, {"device": "CPU: Intel Xeon", "speed": {"tiny": {"batch_fps": 35.2}}}, ["speed"], ["tiny"])
    first |= {"date": "2026-12-01T09:36:52+00:00", "git_commit": "2923df3"}  # as write_results stamps it
    second = merged(first, {"device": "CPU: AMD EPYC", "speed": {"tiny": {"batch_fps": 37.9}}}, ["speed"], ["tiny"])
    assert "the rest is from the full run of 2026-11-30T07:37:29+00:00 (commit 46fb5b9" in second["notes"][-1]
    assert second["full_run"]["date"] == "2026-11-30T07:37:29+00:00"
