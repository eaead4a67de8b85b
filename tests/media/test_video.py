from __future__ import annotations

import os

import av
import numpy as np
import pytest

from media.audio import AudioTrack
from media.errors import UnreadableMediaError
from media.video import (
    VideoWriter,
    iter_frames,
    probe_video,
    read_video,
    resample_frame_indices,
    to_yuv420p,
    transcode_frames,
    write_video,
)


def _frames(n: int, height: int, width: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
    return np.stack([np.roll(base, shift=k, axis=1) for k in range(n)])


def test_mp4_round_trip_with_audio(tmp_path, speech):
    fps, n_frames = 25, 50
    path = write_video(tmp_path / "out.mp4", _frames(n_frames, 64, 96), fps=fps, audio=speech)
    video = read_video(path)
    assert video.frames.shape == (n_frames, 64, 96, 3)
    assert video.fps == pytest.approx(fps)
    assert video.duration == pytest.approx(n_frames / fps, abs=1 / fps)
    assert video.audio is not None
    assert video.audio.duration == pytest.approx(speech.duration, abs=1 / fps)
    # The decoded audio is the same signal, not just the same length.
    assert (
        np.corrcoef(video.audio.samples[: len(speech.samples)], speech.samples[: len(video.audio.samples)])[0, 1] > 0.9
    )


def test_written_mp4_is_h264_yuv420p_aac(tmp_path, speech):
    import av

    path = write_video(tmp_path / "out.mp4", _frames(10, 32, 32), audio=speech)
    with av.open(str(path)) as container:
        video, audio = container.streams.video[0], container.streams.audio[0]
        assert video.codec_context.name == "h264"
        assert video.codec_context.pix_fmt == "yuv420p"
        assert audio.codec_context.name == "aac"


def test_odd_frame_size_is_padded_to_even(tmp_path):
    path = write_video(tmp_path / "odd.mp4", _frames(5, 33, 47))
    info = probe_video(path)
    assert (info.width, info.height) == (48, 34)
    assert not info.has_audio
    assert read_video(path).audio is None


def test_streaming_writer_keeps_audio_in_sync(tmp_path, speech):
    half = len(speech.samples) // 2
    with VideoWriter(tmp_path / "stream.mp4", fps=25, audio_sample_rate=speech.sample_rate) as writer:
        writer.add_audio(AudioTrack(speech.samples[:half], speech.sample_rate), final=False)
        for index, frame in enumerate(_frames(50, 32, 32)):
            if index == 25:
                writer.add_audio(AudioTrack(speech.samples[half:], speech.sample_rate))
            writer.write(frame)
    video = read_video(tmp_path / "stream.mp4")
    assert len(video.frames) == 50
    assert video.audio.duration == pytest.approx(2.0, abs=0.04)


def test_writer_replaces_its_destination_only_when_complete(tmp_path):
    """A failure half-way leaves what was at the path, and no partial file; a finished file may replace
    the very video its frames are read from."""
    path = write_video(tmp_path / "clip.mp4", _frames(120, 64, 64), fps=25)
    before = path.read_bytes()
    with pytest.raises(RuntimeError), VideoWriter(path, fps=25) as writer:
        writer.write(_frames(1, 64, 64)[0])
        raise RuntimeError("the source broke")
    assert path.read_bytes() == before and sorted(tmp_path.iterdir()) == [path]
    with VideoWriter(path, fps=25) as writer:
        for _, frame in iter_frames(path):
            writer.write(frame[:, ::-1])
    assert probe_video(path).n_frames == 120 and sorted(tmp_path.iterdir()) == [path]
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # not the private mode of a temporary file


def test_corrupt_video_gives_clear_error(tmp_path):
    path = tmp_path / "corrupt.mp4"
    path.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 20)
    with pytest.raises(UnreadableMediaError, match="corrupt.mp4"):
        read_video(path)


def test_truncated_video_gives_clear_error(tmp_path):
    good = write_video(tmp_path / "good.mp4", _frames(20, 32, 32))
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(good.read_bytes()[:200])
    with pytest.raises(UnreadableMediaError):
        read_video(truncated)


def test_missing_video_names_the_file(tmp_path):
    with pytest.raises(UnreadableMediaError, match="nothere.mp4: file not found"):
        read_video(tmp_path / "nothere.mp4")


def test_resampling_variable_frame_rate_to_constant():
    # 30 fps with a dropped stretch (VFR) -> 25 fps over the same span.
    times = np.concatenate([np.arange(0, 1, 1 / 30), np.arange(1.5, 2, 1 / 30)])
    indices = resample_frame_indices(times, 25)
    assert len(indices) == int((times[-1] - times[0]) * 25) + 1
    assert np.all(np.diff(indices) >= 0)
    chosen = times[indices]
    targets = np.arange(len(indices)) / 25
    assert np.all(chosen <= targets + 0.1 / 25)


@pytest.mark.parametrize("codec", ["libx264", "libx265"])
def test_transcode_returns_every_frame_re_encoded(codec):
    rows, cols = np.mgrid[0:67, 0:97]
    frames = np.stack(
        [np.stack([rows * 3, cols * 2 + 10 * t, (rows + cols + 5 * t) % 256], axis=-1) for t in range(7)]
    ).astype(np.uint8)
    coded = transcode_frames(frames, codec=codec, crf=23)
    assert coded.shape == (7, 66, 96, 3)  # yuv420p: cropped to even sizes
    difference = np.abs(coded.astype(int) - frames[:, :66, :96]).mean()
    assert 0 < difference < 8  # changed by the codec, still the same pictures


def test_transcode_refuses_frames_too_narrow_for_x265():
    with pytest.raises(ValueError, match="64 px"):
        transcode_frames(_frames(2, 64, 48), codec="libx265")


def test_planar_yuv_transcode_is_the_rgb_transcode_without_the_conversions():
    """The watermark's channel passes send yuv420p planes: the same encode, bit for bit, as sending RGB."""
    frames = _frames(5, 48, 64)
    planes = to_yuv420p(frames)
    assert planes.shape == (5, 72, 64) and planes.dtype == np.uint8
    luma = frames.astype(float) @ np.array([0.299, 0.587, 0.114]) / 255
    assert np.abs(planes[:, :48] - (16 + 219 * luma)).max() <= 0.51  # limited range, rounded
    coded_planes = transcode_frames(planes, crf=28, pixel_format="yuv420p")
    assert coded_planes.shape == planes.shape
    coded_rgb = transcode_frames(frames, crf=28)
    as_rgb = np.stack(
        [av.VideoFrame.from_ndarray(plane, format="yuv420p").to_ndarray(format="rgb24") for plane in coded_planes]
    )
    assert np.array_equal(as_rgb, coded_rgb)


def test_planar_yuv_needs_even_sides_and_a_known_format():
    with pytest.raises(ValueError, match="even sides"):
        to_yuv420p(_frames(2, 47, 64))
    with pytest.raises(ValueError, match="pixel_format"):
        transcode_frames(_frames(2, 48, 64), pixel_format="nv12")
