"""espeak-ng speech (bundled wheel): real synthetic speech for the demo and tests, in many languages."""

from __future__ import annotations

import numpy as np
import pytest

from media.errors import AudioError
from media.speech import synthesize_speech


@pytest.mark.parametrize("voice", ["en", "fr", "de", "cmn", "ja"])
def test_speaks_several_languages_at_16khz(voice):
    track = synthesize_speech("one two three four five", voice=voice)
    assert track.sample_rate == 16_000 and 0.8 < track.duration < 6
    assert np.abs(track.samples).max() > 0.1 and np.abs(track.samples).max() <= 1.0


def test_longer_text_gives_longer_speech():
    short, long = synthesize_speech("Hello."), synthesize_speech("Hello. " * 6)
    assert long.duration > 3 * short.duration
    # espeak-ng keeps a little state between calls: lengths agree within a few samples, not bit for bit.
    assert abs(synthesize_speech("Hello.").duration - short.duration) < 0.01


def test_bad_requests_are_clear_errors():
    with pytest.raises(AudioError, match="no text"):
        synthesize_speech("   ")
    with pytest.raises(AudioError, match="no voice"):
        synthesize_speech("hello", voice="xx-notalanguage")


def test_cli_writes_the_demo_inputs(tmp_path):
    from typer.testing import CliRunner

    from media.audio import load_audio
    from media.image import load_image
    from service.cli.main import app

    result = CliRunner().invoke(app, ["data", "demo-inputs", str(tmp_path), "--text", "Testing the demo."])
    assert result.exit_code == 0, result.output
    assert load_image(tmp_path / "portrait.png").shape == (512, 512, 3)
    assert load_audio(tmp_path / "speech.wav").duration > 0.8
