from __future__ import annotations

import shutil

from typer.testing import CliRunner

from service.cli.main import app

runner = CliRunner()


def test_help_lists_command_groups():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "data" in result.output


def test_data_sample_then_prepare(tmp_path):
    result = runner.invoke(app, ["data", "sample", str(tmp_path / "src"), "--clips", "1", "--seconds", "1.5"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["data", "prepare", str(tmp_path / "src"), str(tmp_path / "out"), "--size", "128"])
    assert result.exit_code == 0, result.output
    assert "clips usable (total)" in result.output
    assert (tmp_path / "out" / "clips" / "sample_00" / "frames.mp4").is_file()


def test_prepare_missing_folder_is_one_line_error(tmp_path):
    result = runner.invoke(app, ["data", "prepare", str(tmp_path / "nope"), str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "not a folder" in result.output
    assert "Traceback" not in result.output


def test_prepare_rejects_unknown_size(tmp_path):
    shutil.rmtree(tmp_path, ignore_errors=True)
    result = runner.invoke(app, ["data", "prepare", ".", str(tmp_path), "--size", "100"])
    assert result.exit_code != 0


def test_train_face_bad_options_are_one_line_errors(tmp_path, sample_clip):
    from tests.conftest import make_prepared_corpus

    result = runner.invoke(app, ["train", "face", "--data", str(tmp_path), "--gaze-shift", "0.3"])
    assert result.exit_code == 2 and "--gaze-shift takes two numbers" in result.output
    corpus = make_prepared_corpus(tmp_path / "corpus", sample_clip, ("a", "b", "c"), 128)
    missing = tmp_path / "nope.safetensors"
    args = ["train", "face", "--data", str(corpus), "--run-dir", str(tmp_path / "run"), "--init-from", str(missing)]
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and "weights file not found" in result.output
    assert "Traceback" not in result.output
