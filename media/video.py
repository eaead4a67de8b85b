"""Video reading and MP4 writing (H.264 yuv420p + AAC) through PyAV.

Reading handles odd frame sizes, variable frame rate (frames carry their own timestamps), files
without audio, and reports corrupt or truncated files as UnreadableMediaError.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from media.atomic import partial_path, publish
from media.audio import AudioTrack, decode_audio
from media.errors import UnreadableMediaError
from media.x264 import TRANSCODE_THREADS, reproducible_params

VIDEO_EXTENSIONS = (".mp4", ".mov", ".m4v", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts")


@dataclass(frozen=True)
class VideoInfo:
    """Stream facts read from the container header."""

    width: int
    height: int
    fps: float
    duration: float
    n_frames: int | None
    has_audio: bool


@dataclass(frozen=True)
class Video:
    """A decoded video.

    frames: (T, H, W, 3) uint8 RGB; times: (T,) presentation times in seconds (non-uniform for VFR);
    fps: average frame rate; audio: mono track at its native rate, or None when the file has none.
    """

    frames: np.ndarray
    times: np.ndarray
    fps: float
    audio: AudioTrack | None

    @property
    def duration(self) -> float:
        if len(self.times) == 0:
            return 0.0
        return float(self.times[-1] - self.times[0]) + 1.0 / self.fps


def probe_video(path: str | Path) -> VideoInfo:
    """Header facts without decoding frames."""
    name = _existing(path)
    try:
        with av.open(name) as container:
            if not container.streams.video:
                raise UnreadableMediaError(f"{name}: the file has no video stream")
            stream = container.streams.video[0]
            fps = _stream_fps(stream)
            duration = _duration_seconds(container, stream)
            return VideoInfo(
                width=stream.codec_context.width,
                height=stream.codec_context.height,
                fps=fps,
                duration=duration,
                n_frames=stream.frames or None,
                has_audio=bool(container.streams.audio),
            )
    except UnreadableMediaError:
        raise
    except (av.FFmpegError, ValueError) as err:
        raise UnreadableMediaError(f"{name}: not a readable video ({err})") from err


def iter_frames(path: str | Path) -> Iterator[tuple[float, np.ndarray]]:
    """Yield (time in seconds, (H, W, 3) uint8 RGB frame) in presentation order."""
    name = _existing(path)
    decoded = 0
    try:
        with av.open(name) as container:
            if not container.streams.video:
                raise UnreadableMediaError(f"{name}: the file has no video stream")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            fps = _stream_fps(stream)
            for frame in container.decode(stream):
                time = frame.time if frame.time is not None else decoded / fps
                decoded += 1
                yield float(time), frame.to_ndarray(format="rgb24")
    except UnreadableMediaError:
        raise
    except (av.FFmpegError, ValueError) as err:
        raise UnreadableMediaError(f"{name}: video could not be decoded ({err})") from err
    if decoded == 0:
        raise UnreadableMediaError(f"{name}: the video stream holds no decodable frame")


def read_video(path: str | Path, *, max_frames: int | None = None, with_audio: bool = True) -> Video:
    """Decode a whole video (frames + audio) into memory.

    For long or large videos prefer iter_frames, which holds one frame at a time.
    """
    name = _existing(path)
    fps = probe_video(name).fps
    times: list[float] = []
    frames: list[np.ndarray] = []
    for time, frame in iter_frames(name):
        times.append(time)
        frames.append(frame)
        if max_frames is not None and len(frames) >= max_frames:
            break
    audio = decode_audio(name) if with_audio else None
    if audio is not None and len(audio.samples) == 0:
        audio = None
    return Video(frames=np.stack(frames), times=np.asarray(times, dtype=np.float64), fps=fps, audio=audio)


def resample_frame_indices(times: np.ndarray, fps: float) -> np.ndarray:
    """Indices into `times` that sample the video at a constant `fps` (nearest earlier-or-equal frame).

    This turns variable or different frame rates into a constant-rate sequence covering the same span.
    """
    if len(times) == 0:
        return np.zeros(0, dtype=np.int64)
    start = times[0]
    n_out = int(np.floor((times[-1] - start) * fps + 1e-6)) + 1
    targets = start + np.arange(n_out) / fps
    # A tolerance of a tenth of a frame avoids skipping a frame whose timestamp is rounded late.
    indices = np.searchsorted(times, targets + 0.1 / fps, side="right") - 1
    return np.clip(indices, 0, len(times) - 1)


class VideoWriter:
    """Streaming MP4 writer: H.264 (libx264, yuv420p) video and optional AAC audio, interleaved.

    Frames are appended as they come; audio (mono, any rate) is given up front or appended in chunks,
    and is written up to the time of the frames written so far, so a player sees both in sync. The file
    appears at `path` only when closed without an error (media.atomic): until then it is a hidden
    partial file beside it, and `path` may be the very file the frames are being read from.

    Usage:
        with VideoWriter(path, fps=25, crf=18) as writer:
            writer.add_audio(track)  # optional
            for frame in frames:
                writer.write(frame)
    """

    def __init__(
        self,
        path: str | Path,
        *,
        fps: float = 25.0,
        crf: int = 18,
        preset: str = "medium",
        audio_sample_rate: int | None = None,
        audio_bitrate: int = 128_000,
    ) -> None:
        self.path = Path(path)
        self.fps = Fraction(fps).limit_denominator(1001)
        self.crf = crf
        self.preset = preset
        # +faststart moves the index to the front so browsers can play while downloading.
        self._partial = partial_path(self.path)
        try:
            self._container = av.open(
                str(self._partial), mode="w", format="mp4", container_options={"movflags": "+faststart"}
            )
        except BaseException:
            self._partial.unlink(missing_ok=True)
            raise
        self._video_stream = None
        self._audio_stream = None
        self._audio_rate = audio_sample_rate
        self._audio_bitrate = audio_bitrate
        self._pending_audio = np.zeros(0, dtype=np.float32)
        self._audio_written = 0
        self._audio_finished = False
        self._frames_written = 0
        self._size: tuple[int, int] | None = None
        if audio_sample_rate is not None:
            self._open_audio(audio_sample_rate)

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self._container.close()
            self._partial.unlink(missing_ok=True)

    @property
    def frames_written(self) -> int:
        return self._frames_written

    def add_audio(self, track: AudioTrack, *, final: bool = True) -> None:
        """Append mono audio; `final=False` when more chunks will follow (streaming)."""
        if self._audio_stream is None:
            if self._frames_written:
                raise ValueError("audio must be added before the first frame, or its rate given up front")
            self._open_audio(track.sample_rate)
        if track.sample_rate != self._audio_rate:
            raise ValueError(f"audio chunk at {track.sample_rate} Hz, writer expects {self._audio_rate} Hz")
        self._pending_audio = np.concatenate([self._pending_audio, track.samples.astype(np.float32)])
        self._audio_finished = final
        self._flush_audio(until=self._frames_written / float(self.fps))

    def write(self, frame: np.ndarray) -> None:
        """Append one (H, W, 3) uint8 RGB frame. Odd sizes are padded by one edge pixel for yuv420p."""
        frame = _even_size(np.ascontiguousarray(frame, dtype=np.uint8))
        if self._video_stream is None:
            self._open_video(frame.shape[1], frame.shape[0])
        if (frame.shape[1], frame.shape[0]) != self._size:
            raise ValueError(f"frame size {frame.shape[1]}x{frame.shape[0]} differs from {self._size}")
        video_frame = av.VideoFrame.from_ndarray(frame, format="rgb24")
        video_frame.pts = self._frames_written
        for packet in self._video_stream.encode(video_frame):
            self._container.mux(packet)
        self._frames_written += 1
        self._flush_audio(until=self._frames_written / float(self.fps))

    def close(self) -> None:
        if self._video_stream is None:
            self._container.close()
            self._partial.unlink(missing_ok=True)
            raise ValueError(f"{self.path}: no frame was written")
        for packet in self._video_stream.encode(None):
            self._container.mux(packet)
        if self._audio_stream is not None:
            self._flush_audio(until=None)
            for packet in self._audio_stream.encode(None):
                self._container.mux(packet)
        self._container.close()
        publish(self._partial, self.path)

    def _open_video(self, width: int, height: int) -> None:
        stream = self._container.add_stream("libx264", rate=self.fps)
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p"
        stream.time_base = 1 / self.fps
        stream.options = {"crf": str(self.crf), "preset": self.preset, **reproducible_params()}
        self._video_stream = stream
        self._size = (width, height)

    def _open_audio(self, sample_rate: int) -> None:
        stream = self._container.add_stream("aac", rate=sample_rate)
        stream.layout = "mono"
        stream.bit_rate = self._audio_bitrate
        self._audio_stream = stream
        self._audio_rate = sample_rate

    def _flush_audio(self, until: float | None) -> None:
        """Encode pending audio up to `until` seconds (None: everything)."""
        if self._audio_stream is None or len(self._pending_audio) == 0:
            return
        if until is None:
            n_take = len(self._pending_audio)
        else:
            n_take = min(len(self._pending_audio), int(round(until * self._audio_rate)) - self._audio_written)
        if n_take <= 0:
            return
        chunk, self._pending_audio = self._pending_audio[:n_take], self._pending_audio[n_take:]
        audio_frame = av.AudioFrame.from_ndarray(chunk[None, :], format="flt", layout="mono")
        audio_frame.sample_rate = self._audio_rate
        audio_frame.pts = self._audio_written
        audio_frame.time_base = Fraction(1, self._audio_rate)
        self._audio_written += n_take
        for packet in self._audio_stream.encode(audio_frame):
            self._container.mux(packet)


def write_video(
    path: str | Path,
    frames: np.ndarray | list[np.ndarray],
    *,
    fps: float = 25.0,
    audio: AudioTrack | None = None,
    crf: int = 18,
    preset: str = "medium",
) -> Path:
    """Write frames ((T, H, W, 3) uint8 RGB) and optional audio to an MP4 at `path`."""
    with VideoWriter(path, fps=fps, crf=crf, preset=preset) as writer:
        if audio is not None:
            writer.add_audio(audio)
        for frame in frames:
            writer.write(frame)
    return Path(path)


def _even_size(frame: np.ndarray) -> np.ndarray:
    pad_h, pad_w = frame.shape[0] % 2, frame.shape[1] % 2
    if pad_h or pad_w:
        frame = np.pad(frame, ((0, pad_h), (0, pad_w), (0, 0)), mode="edge")
    return frame


def _existing(path: str | Path) -> str:
    if not Path(path).is_file():
        raise UnreadableMediaError(f"{path}: file not found")
    return str(path)


def _stream_fps(stream) -> float:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    if not rate or float(rate) <= 0 or float(rate) > 1000:
        return 25.0
    return float(rate)


def _duration_seconds(container, stream) -> float:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return 0.0


def transcode_frames(
    frames: np.ndarray,
    *,
    codec: str = "libx264",
    crf: int = 28,
    preset: str = "medium",
    fps: float = 25.0,
    pixel_format: str = "rgb24",
) -> np.ndarray:
    """Encode frames as a yuv420p video in memory and decode them back.

    What a platform does to an upload; used by the watermark's attack layer, its channel passes and its
    benchmark. `frames` are (T, H, W, 3) uint8 RGB (odd sizes are cropped to even ones: yuv420p), or,
    with pixel_format "yuv420p", planar frames as to_yuv420p lays them out, which skips the conversions
    to and from RGB. The decoded frames come back in the same format.
    """
    if pixel_format == "rgb24":
        height, width = frames.shape[1] // 2 * 2, frames.shape[2] // 2 * 2
        pictures = frames[:, :height, :width]
    elif pixel_format == "yuv420p":
        height, width = frames.shape[1] * 2 // 3, frames.shape[2]
        pictures = frames
    else:
        raise ValueError(f"pixel_format must be 'rgb24' or 'yuv420p', got {pixel_format!r}")
    if codec == "libx265" and width < 64:
        # Measured on this build: frames 40-48 px wide abort the process (heap corruption) now and then.
        raise ValueError(f"libx265 needs frames at least 64 px wide, got {width}")
    rate = Fraction(fps).limit_denominator(1001)
    encoder = av.CodecContext.create(codec, "w")
    encoder.width, encoder.height, encoder.pix_fmt = width, height, "yuv420p"
    encoder.time_base, encoder.framerate = 1 / rate, rate
    options = {"crf": str(crf), "preset": preset}
    if codec == "libx265":
        options["x265-params"] = "log-level=error"
    if codec == "libx264":
        # The same frames make the same encode on every run and x86 machine (media.x264).
        options.update(reproducible_params())
        encoder.thread_count = TRANSCODE_THREADS
    encoder.options = options
    # Packets go straight from the encoder to a decoder, with no container between them: only the codec
    # round trip matters here, and a muxer checks timestamps that x265 sometimes leaves uninitialised
    # (decode timestamps around -4.6e18 for a 2-frame clip, refused now and then with EINVAL). The
    # decoded frames are the same, bit for bit, as through a Matroska file.
    decoder = av.CodecContext.create(_DECODERS.get(codec, codec), "r")
    decoded: list[np.ndarray] = []

    def decode(packets) -> None:
        for packet in packets:
            decoded.extend(frame.to_ndarray(format=pixel_format) for frame in decoder.decode(packet))

    for index, picture in enumerate(pictures):
        video_frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(picture), format=pixel_format)
        video_frame.pts = index
        decode(encoder.encode(video_frame))
    decode(encoder.encode(None))
    decode([None])  # drain the decoder
    return np.stack(decoded)


def to_yuv420p(frames: np.ndarray) -> np.ndarray:
    """(T, H, W, 3) uint8 RGB with even sides -> (T, H * 3 // 2, W) uint8 planar yuv420p (the H rows of
    Y, then U and V, each (H / 2, W / 2), as PyAV lays them out), converted as an encoder converts RGB
    (swscale's BT.601 limited range: Y = 16 + 219 x luma)."""
    if frames.shape[1] % 2 or frames.shape[2] % 2:
        raise ValueError(f"yuv420p needs even sides, got {frames.shape[2]}x{frames.shape[1]}")
    pictures = (av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24") for frame in frames)
    return np.stack([picture.reformat(format="yuv420p").to_ndarray() for picture in pictures])


# Encoder name -> the decoder of its bitstream (FFmpeg names encoders after the library).
_DECODERS = {"libx264": "h264", "libx265": "hevc"}


def remux(source: str | Path, destination: str | Path) -> Path:
    """Copy the audio and video packets into a new MP4 without re-encoding; metadata (and any C2PA
    manifest) is left behind, as when a platform strips it."""
    with av.open(str(source)) as src, av.open(str(destination), "w", format="mp4") as dst:
        mapping = {
            stream.index: dst.add_stream_from_template(stream)
            for stream in src.streams
            if stream.type in ("video", "audio")
        }
        for packet in src.demux():
            if packet.stream.index in mapping and packet.dts is not None:
                packet.stream = mapping[packet.stream.index]
                dst.mux(packet)
    return Path(destination)
