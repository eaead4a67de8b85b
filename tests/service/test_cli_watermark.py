"""`candor watermark embed` / `extract` as a user runs them: exit codes, the JSON report, clear errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from media.video import probe_video, read_video, write_video
from service.cli.main import app

runner = CliRunner()
GENERATION_ID = "a1b2c3d4e5f60718"


@pytest.fixture(scope="module")
def marked_clip(sample_clip, tmp_path_factory):
    marked = tmp_path_factory.mktemp("marked") / "marked.mp4"
    result = runner.invoke(app, ["watermark", "embed", str(sample_clip), str(marked), "--id", GENERATION_ID])
    assert result.exit_code == 0, result.output
    return marked


def test_embed_then_extract(marked_clip, sample_clip):
    result = runner.invoke(app, ["watermark", "extract", str(marked_clip), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["detected"] and report["id"] == GENERATION_ID and report["p_value"] < 1e-6
    assert len(report["bit_confidence"]) == 191 and [span["detected"] for span in report["spans"]] == [True, True]
    unmarked = runner.invoke(app, ["watermark", "extract", str(sample_clip)])
    assert unmarked.exit_code == 1 and "not detected" in unmarked.stdout


def test_extract_names_the_seconds_of_a_marked_excerpt(tmp_path, marked_clip, sample_clip):
    """Two marked seconds between unmarked ones: detected, and the text says where."""
    plain, excerpt = read_video(sample_clip, with_audio=False).frames, read_video(marked_clip, with_audio=False).frames
    spliced = tmp_path / "spliced.mp4"
    write_video(spliced, np.concatenate([plain, plain, excerpt, plain]), fps=25.0)
    result = runner.invoke(app, ["watermark", "extract", str(spliced)])
    assert result.exit_code == 0, result.output
    assert GENERATION_ID in result.stdout and "(4-6 s)" in result.stdout


def test_embed_in_place_keeps_every_frame(tmp_path, sample_clip):
    """The output may be the input: it is read whole before it is replaced."""
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(sample_clip.read_bytes())
    frames = probe_video(clip).n_frames
    result = runner.invoke(app, ["watermark", "embed", str(clip), str(clip), "--id", GENERATION_ID])
    assert result.exit_code == 0, result.output
    assert probe_video(clip).n_frames == frames and [path.name for path in tmp_path.iterdir()] == ["clip.mp4"]
    report = json.loads(runner.invoke(app, ["watermark", "extract", str(clip), "--json"]).stdout)
    assert report["id"] == GENERATION_ID


def test_embed_refuses_to_replace_another_generation_id(tmp_path, marked_clip, portrait):
    """A marked video (or image) keeps the ID it carries: marking it with another is refused and writes
    nothing; marking it again with its own ID is allowed."""
    other_id = "0123456789abcdef"
    copy = tmp_path / "copy.mp4"
    result = runner.invoke(app, ["watermark", "embed", str(marked_clip), str(copy), "--id", other_id])
    assert result.exit_code == 2 and GENERATION_ID in result.output and not copy.exists()
    result = runner.invoke(app, ["watermark", "embed", str(marked_clip), str(copy), "--id", GENERATION_ID])
    assert result.exit_code == 0, result.output
    assert json.loads(runner.invoke(app, ["watermark", "extract", str(copy), "--json"]).stdout)["id"] == GENERATION_ID

    from media.image import save_image

    photo, marked_photo = tmp_path / "photo.png", tmp_path / "marked.png"
    save_image(photo, portrait[:256, 128:384])
    assert runner.invoke(app, ["watermark", "embed", str(photo), str(marked_photo), "--id", other_id]).exit_code == 0
    marked_bytes = marked_photo.read_bytes()
    result = runner.invoke(app, ["watermark", "embed", str(marked_photo), str(marked_photo), "--id", GENERATION_ID])
    assert result.exit_code == 2 and other_id in result.output and marked_photo.read_bytes() == marked_bytes


def test_a_failed_embed_leaves_the_destination_as_it_was(tmp_path, sample_clip):
    destination = tmp_path / "out.mp4"
    destination.write_bytes(b"an earlier output")
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    result = runner.invoke(app, ["watermark", "embed", str(broken), str(destination), "--id", GENERATION_ID])
    assert result.exit_code == 2 and destination.read_bytes() == b"an earlier output"
    as_image = tmp_path / "o.png"
    result = runner.invoke(app, ["watermark", "embed", str(sample_clip), str(as_image), "--id", GENERATION_ID])
    assert result.exit_code == 2 and "must be a video" in result.output and not as_image.exists()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["broken.mp4", "out.mp4"]


def test_bad_input_is_a_one_line_error(tmp_path, sample_clip):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    result = runner.invoke(app, ["watermark", "extract", str(broken)])
    assert result.exit_code == 2 and "broken.mp4" in result.output
    result = runner.invoke(app, ["watermark", "embed", str(sample_clip), str(tmp_path / "o.mp4"), "--id", "xyz"])
    assert result.exit_code == 2 and not (tmp_path / "o.mp4").exists()
