from __future__ import annotations

import numpy as np
import pytest
import soundfile

from media.audio import AudioLimits, load_audio
from media.errors import AudioTooLongError, EmptyAudioError, SilentAudioError, UnreadableMediaError
from media.video import write_video


@pytest.mark.parametrize("fmt", ["wav", "flac"])
def test_load_resamples_to_16k_mono(tmp_path, speech, fmt):
    stereo = np.stack([speech.samples, speech.samples * 0.5], axis=1)
    path = tmp_path / f"speech.{fmt}"
    import librosa

    soundfile.write(path, librosa.resample(stereo.T, orig_sr=16000, target_sr=44100).T, 44100)
    track = load_audio(path)
    assert track.sample_rate == 16000
    assert track.samples.ndim == 1
    assert track.duration == pytest.approx(speech.duration, abs=0.01)


def test_load_audio_from_mp4(tmp_path, speech):
    frames = np.zeros((10, 32, 32, 3), np.uint8)
    path = write_video(tmp_path / "with_audio.mp4", frames, audio=speech)
    assert load_audio(path).duration == pytest.approx(speech.duration, abs=0.04)


def test_empty_audio_file_is_rejected(tmp_path):
    path = tmp_path / "empty.wav"
    soundfile.write(path, np.zeros(0, np.float32), 16000)
    with pytest.raises(EmptyAudioError, match="empty.wav"):
        load_audio(path)


def test_zero_byte_file_is_unreadable(tmp_path):
    path = tmp_path / "zero.mp3"
    path.write_bytes(b"")
    with pytest.raises(UnreadableMediaError, match="zero.mp3"):
        load_audio(path)


def test_silence_is_rejected(tmp_path):
    path = tmp_path / "silence.wav"
    soundfile.write(path, np.zeros(16000, np.float32), 16000)
    with pytest.raises(SilentAudioError):
        load_audio(path)


def test_too_long_is_rejected(tmp_path, speech):
    path = tmp_path / "long.wav"
    soundfile.write(path, speech.samples, speech.sample_rate)
    with pytest.raises(AudioTooLongError, match="limit"):
        load_audio(path, limits=AudioLimits(max_seconds=1.0))


def test_video_without_audio_is_rejected_as_speech(tmp_path):
    path = write_video(tmp_path / "silent_video.mp4", np.zeros((5, 32, 32, 3), np.uint8))
    with pytest.raises(UnreadableMediaError, match="no audio stream"):
        load_audio(path)


def _encode_audio_only(path, track, codec: str, container_format: str) -> None:
    import av

    with av.open(str(path), "w", format=container_format) as container:
        stream = container.add_stream(codec, rate=track.sample_rate)
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray(track.samples[None, :], format="flt", layout="mono")
        frame.sample_rate = track.sample_rate
        frame.pts = 0
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


@pytest.mark.parametrize(
    ("suffix", "codec", "container_format"), [(".mp3", "libmp3lame", "mp3"), (".m4a", "aac", "ipod")]
)
def test_compressed_audio_files_load(tmp_path, speech, suffix, codec, container_format):
    path = tmp_path / f"speech{suffix}"
    _encode_audio_only(path, speech, codec, container_format)
    track = load_audio(path)
    assert track.sample_rate == 16000
    assert track.duration == pytest.approx(speech.duration, abs=0.08)
