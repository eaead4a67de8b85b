from __future__ import annotations

import json

from typer.testing import CliRunner

from service.cli.main import app

runner = CliRunner()


def test_keys_sign_verify_round_trip(tmp_path, sample_clip, monkeypatch):
    monkeypatch.setenv("CANDOR_HOME", str(tmp_path / "home"))
    assert runner.invoke(app, ["keys", "init"]).exit_code == 0
    again = runner.invoke(app, ["keys", "init"])
    assert again.exit_code == 2 and "already exist" in again.output
    signed = tmp_path / "signed.mp4"
    result = runner.invoke(app, ["sign", str(sample_clip), str(signed), "--watermark-id", "00112233445566ff"])
    assert result.exit_code == 0, result.output
    anchors = tmp_path / "home" / "keys" / "ca.pem"
    result = runner.invoke(app, ["verify", str(signed), "--trust-anchors", str(anchors), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["c2pa"]["state"] == "Trusted" and report["ai_generated"] is True
    assert report["c2pa"]["soft_binding_id"] == "00112233445566ff"
    assert runner.invoke(app, ["verify", str(signed)]).exit_code == 0  # Valid, untrusted signer


def test_verify_exit_codes(tmp_path, sample_clip):
    assert runner.invoke(app, ["verify", str(sample_clip), "--store", str(tmp_path / "none.db")]).exit_code == 1
    missing = runner.invoke(app, ["verify", str(tmp_path / "missing.mp4")])
    assert missing.exit_code == 2 and "file not found" in missing.output


def test_sign_rejects_a_bad_watermark_id(tmp_path, sample_clip, monkeypatch):
    monkeypatch.setenv("CANDOR_HOME", str(tmp_path / "home"))
    runner.invoke(app, ["keys", "init"])
    result = runner.invoke(app, ["sign", str(sample_clip), str(tmp_path / "o.mp4"), "--watermark-id", "xyz"])
    assert result.exit_code == 2 and "hex digits" in result.output
