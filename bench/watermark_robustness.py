"""Watermark robustness suite: Candor vs invisible-watermark's DWT-DCT on the same clips and attacks.

    python -m bench.watermark_robustness [--clips 20] [--fp-clips 1000] [--sizes 256 512]
    python -m bench.watermark_robustness --sizes 512 --fp-clips 0   # one size; the others are kept
    python -m bench.watermark_robustness --fp-only   # false positives alone, into the existing results
    python -m bench.watermark_robustness --bias-only   # the per-bit bias alone, on views of those clips
    python -m bench.watermark_robustness --crops-only --sizes 256   # the crop rows over several draws

Clips: 2-second (50-frame, 25 fps) centre-square excerpts of ../shared/data/videos resized to each
size, drawn with a seed per size (as are the IDs), so a size measures the same clips and IDs whichever
sizes a run includes. Every attack is applied to the whole clip as a video (real libx264 / libx265 encodes through
PyAV, preset medium). Success = detected at p < 1e-6 with the exact 64-bit ID. The baseline embeds the
same 64-bit ID with DWT-DCT in every frame and succeeds when the per-frame bitwise majority vote gives
the exact ID (it has no detection test, so its false-positive rate is not comparable). False positives
are counted on unmarked clips: real excerpts, other generators' talking faces, Candor's own generations
as its generator renders them before the mark, and animated portraits. Also counted per attack: clips
where Candor's mark was detected whether or not its ID decoded, and clips where a wrong ID was
reported. The two crop rows depend on which clips are drawn (at 256 px one draw of 20 read the centred
crop 20/20, another 17/20), so they are also counted over more draws of as many clips (--crop-draws).
Writes bench/results/watermark_robustness.{json,md,png}.
"""

from __future__ import annotations

import argparse
import functools
import gc
import itertools
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import torch
from pytorch_msssim import ssim
from scipy.stats import norm

from bench.common import (
    RESULTS_DIR,
    SHARED_DATA,
    device_description,
    git_commit,
    markdown_table,
    read_results,
    write_results,
)
from generator.pipeline import GenerationOptions, TalkingFacePipeline
from media.audio import AudioTrack, load_audio
from media.errors import MediaError
from media.frames import to_tensor
from media.image import load_image
from media.samples import animate_portrait
from media.video import iter_frames, probe_video, transcode_frames
from watermark.inference import VideoWatermarker

FPS = 25
CLIP_FRAMES = 50


def encode_video(frames: np.ndarray, codec: str = "libx264", crf: int = 28) -> np.ndarray:
    """Encode and decode a clip (yuv420p, preset medium), as a platform would."""
    return transcode_frames(frames, codec=codec, crf=crf, preset="medium", fps=FPS)


def resize(frames: np.ndarray, scale: float) -> np.ndarray:
    size = (round(frames.shape[2] * scale) // 2 * 2, round(frames.shape[1] * scale) // 2 * 2)
    return np.stack([cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in frames])


def centre_crop(frames: np.ndarray, fraction: float) -> np.ndarray:
    height, width = frames.shape[1:3]
    ch, cw = round(height * fraction), round(width * fraction)
    top, left = (height - ch) // 2, (width - cw) // 2
    return frames[:, top : top + ch, left : left + cw]


def offset_crop(frames: np.ndarray, fraction: float, top: float, left: float) -> np.ndarray:
    """A crop to `fraction` of each side whose corner sits at (top, left) fractions of the frame: unlike
    the centre crop, at an offset and a scale the reader's search grid does not hold exactly."""
    height, width = frames.shape[1:3]
    ch, cw, y, x = round(height * fraction), round(width * fraction), round(height * top), round(width * left)
    return frames[:, y : y + ch, x : x + cw]


def in_bars(frames: np.ndarray, aspect: float) -> np.ndarray:
    """The clip centred in a frame of height / width = `aspect` with black bars (above and below, or at
    the sides), as a platform fits an upload into 9:16 or 16:9."""
    height, width = frames.shape[1:3]
    out_height = max(height, round(width * aspect) // 2 * 2)
    out_width = max(width, round(height / aspect) // 2 * 2)
    top, left = (out_height - height) // 2, (out_width - width) // 2
    out = np.zeros((len(frames), out_height, out_width, 3), np.uint8)
    out[:, top : top + height, left : left + width] = frames
    return out


def blurred_backdrop(frame: np.ndarray, sigma: float) -> np.ndarray:
    """A blurred copy of `frame` darkened to 60 %, as platforms fill the space around a picture."""
    return (cv2.GaussianBlur(frame, (0, 0), sigma) * 0.6).astype(np.uint8)


def over_blurred_fill(frames: np.ndarray, aspect: float) -> np.ndarray:
    """in_bars, with the space around the clip filled by a blurred, darkened copy of it enlarged to cover
    the frame, as short-video platforms fit a clip of another aspect (nothing uniform to trim)."""
    height, width = frames.shape[1:3]
    out_height = max(height, round(width * aspect) // 2 * 2)
    out_width = max(width, round(height / aspect) // 2 * 2)
    top, left = (out_height - height) // 2, (out_width - width) // 2
    cover = max(out_height / height, out_width / width)
    cover_height, cover_width = round(height * cover), round(width * cover)
    y, x = (cover_height - out_height) // 2, (cover_width - out_width) // 2
    sigma = 0.05 * min(out_height, out_width)
    out = np.empty((len(frames), out_height, out_width, 3), np.uint8)
    for index, frame in enumerate(frames):
        enlarged = cv2.resize(frame, (cover_width, cover_height))[y : y + out_height, x : x + out_width]
        out[index] = blurred_backdrop(enlarged, sigma)
        out[index, top : top + height, left : left + width] = frame
    return out


def in_blurred_border(frames: np.ndarray, fraction: float) -> np.ndarray:
    """The clip shrunk to `fraction` of each side (even sides) and centred in a frame of its own size
    over a blurred, darkened copy of itself: a thin border, or a slight zoom out over a fill, which puts
    the pattern a little below its scale (nothing uniform to trim)."""
    height, width = frames.shape[1:3]
    inner_height, inner_width = round(height * fraction) // 2 * 2, round(width * fraction) // 2 * 2
    top, left = (height - inner_height) // 2, (width - inner_width) // 2
    sigma = 0.05 * min(height, width)
    out = np.empty_like(frames)
    for index, frame in enumerate(frames):
        out[index] = blurred_backdrop(frame, sigma)
        out[index, top : top + inner_height, left : left + inner_width] = cv2.resize(
            frame, (inner_width, inner_height), interpolation=cv2.INTER_AREA
        )
    return out


def centre_square(frame: np.ndarray) -> np.ndarray:
    height, width = frame.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    return frame[top : top + side, left : left + side]


def colour(frames: np.ndarray, brightness: float = 1.0, contrast: float = 1.0) -> np.ndarray:
    x = frames.astype(np.float32)
    mean = x.mean(axis=(1, 2, 3), keepdims=True)
    x = (x - mean) * contrast + mean
    return np.clip(x * brightness, 0, 255).astype(np.uint8)


def blur(frames: np.ndarray, sigma: float = 1.0) -> np.ndarray:
    return np.stack([cv2.GaussianBlur(f, (0, 0), sigma) for f in frames])


def drop_frames(frames: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    keep = np.sort(rng.choice(len(frames), size=round(len(frames) * (1 - fraction)), replace=False))
    return frames[keep]


def attacks(rng: np.random.Generator) -> dict:
    return {
        "clean": lambda f: f,
        "H.264 CRF 23": lambda f: encode_video(f, crf=23),
        "H.264 CRF 28": lambda f: encode_video(f, crf=28),
        "CRF 28 + 0.5x resize": lambda f: encode_video(resize(f, 0.5), crf=28),
        "CRF 28 + centre crop 75%": lambda f: encode_video(centre_crop(f, 0.75), crf=28),
        # 78 % from (20 %, 14.5 %): at 256 px a 200 px crop from (51, 37), odd offsets (half a pixel of the
        # reader's 128 px grid) and a scale between its rescalings.
        "CRF 28 + off-centre crop 78%": lambda f: encode_video(offset_crop(f, 0.78, 0.2, 0.145), crf=28),
        # Bars: a square clip in a 9:16 frame (bars along its longer side: a shift for the reader), and
        # in a 16:9 frame put in a 9:16 one (bars that make the frame's shorter side longer than the
        # picture's: the reader finds the bars and reads inside them).
        "CRF 28 + bars to 9:16": lambda f: encode_video(in_bars(f, 16 / 9), crf=28),
        "CRF 28 + bars to 16:9, then 9:16": lambda f: encode_video(in_bars(in_bars(f, 9 / 16), 16 / 9), crf=28),
        # The same with a blurred copy of the clip around it instead of bars: the picture of the second
        # fit is 56 % of the frame's shorter side, read on the fine grid.
        "CRF 28 + blurred fill to 16:9, then 9:16": lambda f: encode_video(
            over_blurred_fill(over_blurred_fill(f, 9 / 16), 16 / 9), crf=28
        ),
        # A thin border: the picture at 97 % of the frame (the pattern shrunk between the work grid's
        # rescalings and the fine grid's).
        "CRF 28 + blurred border (picture at 97%)": lambda f: encode_video(in_blurred_border(f, 0.97), crf=28),
        # A re-upload flipped left to right (a common way to slip past matching).
        "CRF 28 + mirrored": lambda f: encode_video(np.ascontiguousarray(f[:, :, ::-1]), crf=28),
        # The two geometric attacks without the codec: tells a geometric failure from the codec's.
        "0.5x resize alone": lambda f: resize(f, 0.5),
        "centre crop 75% alone": lambda f: centre_crop(f, 0.75),
        "off-centre crop 78% alone": lambda f: offset_crop(f, 0.78, 0.2, 0.145),
        "H.265 CRF 28": lambda f: encode_video(f, codec="libx265", crf=28),
        "brightness +30%": lambda f: colour(f, brightness=1.3),
        "brightness -30%": lambda f: colour(f, brightness=0.7),
        "contrast +30%": lambda f: colour(f, contrast=1.3),
        "contrast -30%": lambda f: colour(f, contrast=0.7),
        "blur sigma 1": lambda f: blur(f, 1.0),
        "20% frames dropped": lambda f: drop_frames(f, 0.2, rng),
        "1-second excerpt": lambda f: f[:FPS],
    }


def load_clips(size: int, count: int, rng: np.random.Generator) -> list[np.ndarray]:
    """2-second centre-square excerpts of the shared real videos, resized to size x size."""
    videos = sorted((SHARED_DATA / "videos").glob("*"))
    rng.shuffle(videos)
    clips = []
    for path in videos:
        if len(clips) >= count:
            break
        try:
            info = probe_video(path)
            frames = []
            step = max(1, round(info.fps / FPS))
            for index, (_, frame) in enumerate(iter_frames(path)):
                if index % step == 0:
                    frames.append(frame)
                if len(frames) >= CLIP_FRAMES:
                    break
        except MediaError:
            continue
        if len(frames) < CLIP_FRAMES:
            continue
        clips.append(
            np.stack([cv2.resize(centre_square(f), (size, size), interpolation=cv2.INTER_AREA) for f in frames])
        )
    return clips


def id_outcome(report, generation_id: str) -> int:
    """A reading's outcome as the per-clip records keep it: 1 the exact ID, -1 a wrong ID, 0 none."""
    return 1 if report.id == generation_id else (-1 if report.id is not None else 0)


def draw_seeds(size: int, draw: int) -> tuple[list[int], list[int]]:
    """(clips' seed, IDs' seed) of a draw of clips at `size`: draw 0 is the bench's own, whose clips and
    IDs every attack reads; further draws serve crops_over_draws."""
    return ([0, size], [1, size]) if draw == 0 else ([100 + draw, size], [200 + draw, size])


# The rows whose rate depends most on the clips drawn (crops_over_draws).
CROP_ROWS = ("CRF 28 + centre crop 75%", "CRF 28 + off-centre crop 78%")


def crops_over_draws(
    watermarker: VideoWatermarker, size: int, clips_per_draw: int, draws: int, bench_draw: dict | None = None
) -> dict:
    """The CROP_ROWS over `draws` draws of `clips_per_draw` clips at `size` (draw_seeds), marked and read
    as the bench's own. `bench_draw`: the bench's per-clip outcomes (1 exact ID, -1 wrong ID) from the
    same run, which then stand for draw 0 instead of marking its clips again. Every clip's reading is kept
    ("per_clip": per row, per draw, [p-value, outcome]), as in the bench's own table."""
    chosen = attacks(np.random.default_rng(0))  # the crops draw nothing from the generator
    per_draw: dict[str, list[int]] = {name: [] for name in CROP_ROWS}
    per_clip: dict[str, list[list]] = {name: [] for name in CROP_ROWS}
    wrong_ids = dict.fromkeys(CROP_ROWS, 0)
    for draw in range(draws):
        if draw == 0 and bench_draw is not None:
            for name in CROP_ROWS:
                per_draw[name].append(sum(outcome == 1 for _, outcome in bench_draw[name]))
                wrong_ids[name] += sum(outcome == -1 for _, outcome in bench_draw[name])
                per_clip[name].append(bench_draw[name])
            continue
        clip_seed, id_seed = draw_seeds(size, draw)
        id_rng = np.random.default_rng(id_seed)
        exact = dict.fromkeys(CROP_ROWS, 0)
        readings: dict[str, list] = {name: [] for name in CROP_ROWS}
        for clip in load_clips(size, clips_per_draw, np.random.default_rng(clip_seed)):
            generation_id = id_rng.bytes(8).hex()
            marked = watermarker.embed(clip, generation_id)
            for name in CROP_ROWS:
                report = watermarker.read_frames(chosen[name](marked), fps=FPS)
                outcome = id_outcome(report, generation_id)
                exact[name] += int(report.detected and outcome == 1)
                wrong_ids[name] += int(outcome == -1)
                readings[name].append([float(f"{report.p_value:.3g}"), outcome])
        for name in CROP_ROWS:
            per_draw[name].append(exact[name])
            per_clip[name].append(readings[name])
        print(f"{size} px, crops over draws: draw {draw} " + ", ".join(f"{exact[n]}" for n in CROP_ROWS), flush=True)
    clips = draws * clips_per_draw
    return {
        "draws": [list(draw_seeds(size, draw)) for draw in range(draws)],
        "clips": clips,
        "rows": {
            name: {
                "exact": sum(per_draw[name]),
                "rate": round(sum(per_draw[name]) / clips, 4),
                "per_draw": per_draw[name],
                "wrong_id": wrong_ids[name],
                "per_clip": per_clip[name],
            }
            for name in CROP_ROWS
        },
        "git_commit": git_commit(),
    }


# Unmarked clips are made in this order, up to the count asked for: every 2-second window of the real
# videos, then of other generators' talking faces, then Candor's own generations before the mark, then
# animated portraits. Each clip's source is "<kind>/<file name>", and a kind is tallied on its own.
UNMARKED_KIND_NAMES = {
    "videos": "real videos' windows",
    "videos_synthetic": "other generators' talking faces",
    "candor": "Candor's generations before the mark",
    "portraits": "animated portraits",
}
# Candor's own unmarked generations: one per corpus portrait with a face, up to this many.
CANDOR_UNMARKED_CLIPS = 200


def unmarked_clips(count: int, size: int) -> Iterator[tuple[str, np.ndarray]]:
    """(source, clip), up to `count`, in the order of UNMARKED_KIND_NAMES; made one clip at a time (1,000 clips
    at 256 px hold ~10 GB). The source ("<kind>/<file name>") tells which clips share content."""
    kinds = itertools.chain(
        video_windows("videos", size),
        video_windows("videos_synthetic", size),
        candor_unmarked(size),
        animated_portraits(size),
    )
    yield from itertools.islice(kinds, count)


def video_windows(folder: str, size: int) -> Iterator[tuple[str, np.ndarray]]:
    """Every CLIP_FRAMES-frame window of every video in the corpus's `folder`, centre-square at `size`."""
    for path in sorted((SHARED_DATA / folder).glob("*")):
        try:
            frames = [
                cv2.resize(centre_square(f), (size, size), interpolation=cv2.INTER_AREA) for _, f in iter_frames(path)
            ]
        except MediaError:
            continue
        for start in range(0, len(frames) - CLIP_FRAMES + 1, CLIP_FRAMES):
            yield f"{folder}/{path.name}", np.stack(frames[start : start + CLIP_FRAMES])


def corpus_portraits() -> list[Path]:
    return sorted((SHARED_DATA / "portraits").rglob("*.*"))


class _WithoutMark:
    """Stands in for the pipeline's watermarker: the generator's frames as they are before the mark, the
    generated video an unmarked false positive would be read on."""

    def embed(self, frames: np.ndarray, generation_id: str) -> np.ndarray:
        return frames


def candor_unmarked(size: int) -> Iterator[tuple[str, np.ndarray]]:
    """Candor's own talking faces without the mark: each corpus portrait (up to CANDOR_UNMARKED_CLIPS)
    speaking the first CLIP_FRAMES frames' worth of a corpus speech clip, delivered at `size`. Portraits
    without a face and speech that opens silent are passed over."""
    portraits, speeches = corpus_portraits(), sorted((SHARED_DATA / "audio").glob("*"))
    if not portraits or not speeches:
        return
    pipeline = TalkingFacePipeline.from_pretrained(device="cpu")
    pipeline.watermarker = _WithoutMark()

    @functools.cache
    def opening(path: Path) -> AudioTrack:
        """A speech clip's first CLIP_FRAMES frames' worth, decoded once however many portraits speak it."""
        speech = load_audio(path)
        return AudioTrack(speech.samples[: int(CLIP_FRAMES / FPS * speech.sample_rate)], speech.sample_rate)

    made = 0
    for index, path in enumerate(portraits):
        if made == CANDOR_UNMARKED_CLIPS:
            return
        try:
            speech = opening(speeches[index % len(speeches)])
            video = pipeline.generate(load_image(path), speech, options=GenerationOptions(output_size=size, seed=index))
        except MediaError:
            continue
        if len(video.frames) >= CLIP_FRAMES:
            made += 1
            yield f"candor/{path.name}", video.frames[:CLIP_FRAMES]


def animated_portraits(size: int) -> Iterator[tuple[str, np.ndarray]]:
    """The corpus portraits under a slow sway, zoom and tilt, round and round with a new seed each time."""
    portraits = corpus_portraits()
    for turn in itertools.count():
        made = 0
        for number, path in enumerate(portraits):
            try:
                image = load_image(path)
            except MediaError:
                continue
            made += 1
            seed = turn * len(portraits) + number
            yield f"portraits/{path.name}", animate_portrait(centre_square(image), CLIP_FRAMES, size=size, seed=seed)
        if not made:
            return


def clustered_bias(ones: np.ndarray, sources: list[str]) -> dict:
    """Per-bit bias of hard bits `ones` (N readings, n_bits) in {0, 1}, whose readings cluster by source
    (a video's windows and a portrait's animations share content, so they are not independent).

    Each bit's standard error is clustered by source, which gives a test of "this bit is fair"
    (Bonferroni over the bits) and the largest bias the readings leave possible (simultaneous 95 % upper
    bounds); and the readings are split by source into two halves with no content in common, whose
    per-bit biases have independent noise, so their mean product estimates the mean squared bias of the
    bits themselves."""
    ones = ones.astype(np.float64)
    signed_bias = ones.mean(axis=0) - 0.5
    order = {name: rank for rank, name in enumerate(dict.fromkeys(sources))}
    cluster = np.array([order[name] for name in sources])
    deviations = np.zeros((len(order), ones.shape[1]))
    np.add.at(deviations, cluster, ones - ones.mean(axis=0))
    standard_error = np.sqrt(np.sum(deviations**2, axis=0)) / len(ones)
    critical = float(norm.ppf(1 - 0.025 / ones.shape[1]))
    first_half = cluster % 2 == 0
    half_bias = [ones[half].mean(axis=0) - 0.5 for half in (first_half, ~first_half)]
    mean_square = float(np.mean(half_bias[0] * half_bias[1]))
    return {
        "sources": len(order),
        "max_per_bit_bias": round(float(np.abs(signed_bias).max()), 4),
        "mean_per_bit_bias": round(float(np.abs(signed_bias).mean()), 4),
        "mean_bias_of_fair_bits": round(float(np.sqrt(2 / np.pi) * 0.5 / np.sqrt(len(ones))), 4),
        # sqrt of the halves' mean product, 0 where sampling noise makes it negative.
        "rms_bias_between_halves": round(float(np.sqrt(max(mean_square, 0.0))), 4),
        "mean_clustered_standard_error": round(float(standard_error.mean()), 4),
        "bits_not_fair_at_5_percent": int(np.sum(np.abs(signed_bias) > critical * standard_error)),
        "max_bias_upper_bound_95": round(float(np.max(np.abs(signed_bias) + critical * standard_error)), 4),
        "halves_bias_correlation": round(float(np.corrcoef(*half_bias)[0, 1]), 3),
    }


class FalsePositiveTally:
    """Detections and the p-values' calibration on unmarked clips, read exactly as `candor watermark
    extract` reads (rotated readings included where nothing else detects), and the bits' bias over clips."""

    def __init__(self, watermarker: VideoWatermarker, count: int, size: int) -> None:
        self.watermarker, self.size = watermarker, size
        # The code measured: the checkout's commit when the reading starts (it runs for an hour or more).
        self.commit = git_commit()
        self.detections, self.p_values, self.decide_seconds = 0, [], []
        self.detected: list[bool] = []
        # Written in place, as in BitBiasTally (small arrays kept between large temporaries pin the heap).
        self.hard_bits = np.zeros((count, watermarker.codec.n_bits), dtype=np.float32)
        self.sources: list[str] = []

    def add(self, source: str, clip: np.ndarray) -> None:
        statistics = self.watermarker.statistics(clip, fps=FPS)
        start = time.perf_counter()
        report = self.watermarker.decide(statistics)
        self.decide_seconds.append(time.perf_counter() - start)
        self.detections += int(report.detected)
        self.detected.append(bool(report.detected))
        # The reader's bits at the identity alignment (axis weight included), as BitBiasTally reads them.
        learned, tiles = statistics.mean()
        identity = self.watermarker.model.identity_alignment(1, tiles.device)
        logits = self.watermarker.model.logits_at(learned, tiles, identity)[0].detach().cpu().numpy()
        self.hard_bits[len(self.p_values)] = logits > 0
        self.p_values.append(report.p_value)
        self.sources.append(source)

    def progress(self) -> str:
        return f"detections {self.detections}, smallest p {min(self.p_values):.3g}"

    def by_kind(self) -> dict[str, dict]:
        """Clips, detections and the smallest p-value of each kind of unmarked clip (UNMARKED_KIND_NAMES)."""
        kinds = [source.split("/", 1)[0] for source in self.sources]
        tallies = {}
        for kind in dict.fromkeys(kinds):
            mine = [number for number, name in enumerate(kinds) if name == kind]
            tallies[kind] = {
                "clips": len(mine),
                "sources": len({self.sources[number] for number in mine}),
                "detections": sum(self.detected[number] for number in mine),
                "smallest_p_value": min(self.p_values[number] for number in mine),
            }
        return tallies

    def result(self) -> dict:
        hard_bits = self.hard_bits[: len(self.p_values)]
        p_values = np.array(self.p_values)
        return {
            "unmarked_clips": len(hard_bits),
            "size": self.size,
            "detections": self.detections,
            # Each clip as it is, at the identity: its frame's borders fold onto the same tile rows and
            # columns every time, which the bias views' 18 framings average out.
            **clustered_bias(hard_bits, self.sources),
            # Calibration: a valid p-value is at most a in a share a of unmarked clips (the bound is
            # conservative, so far fewer is expected).
            "smallest_p_value": float(p_values.min()),
            "share_p_below_0.01": float(np.mean(p_values < 0.01)),
            "share_p_below_0.1": float(np.mean(p_values < 0.1)),
            "decide_seconds_median": round(float(np.median(self.decide_seconds)), 3),
            "by_kind": self.by_kind(),
            "bits": "reader at the identity",
            "git_commit": self.commit,
        }


# Views of an unmarked clip for the per-bit bias: each orientation cropped by BIAS_VIEW_MARGIN pixels at
# 3 x 3 offsets. Another crop folds the frame into other tiles, so a view's bits are close to independent
# of the others' (which the result's within-clip correlation checks).
BIAS_VIEW_MARGIN = 16
BIAS_VIEW_OFFSETS = (0, 8, 16)
# Every BIAS_FRAME_STEP-th frame of a clip: a talking face's tile statistics change slowly, and the
# extractor's cost is per frame.
BIAS_FRAME_STEP = 5
BIAS_VIEWS_PER_CLIP = 2 * len(BIAS_VIEW_OFFSETS) ** 2


def bias_views(clip: np.ndarray) -> Iterator[np.ndarray]:
    """The views of a clip (T, S, S, 3) read for the per-bit bias: both orientations, 3 x 3 crops each."""
    inner = clip.shape[1] - BIAS_VIEW_MARGIN
    frames = clip[::BIAS_FRAME_STEP]
    for oriented in (frames, frames[:, :, ::-1]):
        for top in BIAS_VIEW_OFFSETS:
            for left in BIAS_VIEW_OFFSETS:
                yield np.ascontiguousarray(oriented[:, top : top + inner, left : left + inner])


class BitBiasTally:
    """The extractor's per-bit bias on unmarked video, on enough readings to resolve 0.02: the
    false-positive clips' views (bias_views), each read at the identity alignment.

    With N independent readings, fair bits show a largest |share of ones - 1/2| of about 3 x 0.5 /
    sqrt(N) over 191 bits, so 1,000 clips cannot tell a bias of 0.02 from chance (0.047). The views are
    not independent readings, though (clustered_bias)."""

    def __init__(self, watermarker: VideoWatermarker, count: int, size: int) -> None:
        self.watermarker, self.size = watermarker, size
        self.commit = git_commit()
        # Written in place: thousands of small arrays kept between the frames' large temporaries pinned
        # freed heap memory (24 GB after 400 clips).
        self.logits = np.zeros((count * BIAS_VIEWS_PER_CLIP, watermarker.codec.n_bits), dtype=np.float32)
        self.sources: list[str] = []

    def add(self, source: str, clip: np.ndarray) -> None:
        for view in bias_views(clip):
            with torch.inference_mode():
                frames = to_tensor(view, self.watermarker.device)
                self.logits[len(self.sources)] = self.watermarker.model.identity_logits(frames).mean(0).cpu().numpy()
            self.sources.append(source)

    def progress(self) -> str:
        return f"{len(self.sources)} bias views"

    def result(self) -> dict:
        logits = self.logits[: len(self.sources)]
        views_per_clip = BIAS_VIEWS_PER_CLIP
        per_clip = logits[: len(logits) // views_per_clip * views_per_clip].reshape(-1, views_per_clip, logits.shape[1])
        standardised = (per_clip - logits.mean(axis=0)) / logits.std(axis=0)
        within = [np.corrcoef(clip_views)[np.triu_indices(views_per_clip, 1)].mean() for clip_views in standardised]
        return {
            "views": len(logits),
            "clips": len(logits) // views_per_clip,
            "size": self.size,
            "frames_per_view": int(np.ceil(CLIP_FRAMES / BIAS_FRAME_STEP)),
            **clustered_bias(logits > 0, self.sources),
            "view_correlation_within_clip": round(float(np.mean(within)), 3),
            "git_commit": self.commit,
        }


def measure_unmarked(
    watermarker: VideoWatermarker, count: int, size: int, *, false_positives: bool = True, bias: bool = True
) -> dict[str, dict]:
    """The false-positive and per-bit bias results ("false_positives", "bit_bias": whichever are asked
    for) on `count` unmarked clips at `size`, each clip made once (a decode of its video, or an animation of
    its portrait) and read by both."""
    kinds = {"false_positives": FalsePositiveTally, "bit_bias": BitBiasTally}
    wanted = {"false_positives": false_positives, "bit_bias": bias}
    tallies = {key: kind(watermarker, count, size) for key, kind in kinds.items() if wanted[key]}
    for number, (source, clip) in enumerate(unmarked_clips(count, size), start=1):
        for tally in tallies.values():
            tally.add(source, clip)
        if number % 100 == 0:
            print(f"unmarked clips read: {number}; " + "; ".join(t.progress() for t in tallies.values()), flush=True)
    return {key: tally.result() for key, tally in tallies.items()}


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(255**2 / max(np.mean((a.astype(np.float64) - b) ** 2), 1e-12)))


def ssim_score(a: np.ndarray, b: np.ndarray) -> float:
    ta = torch.from_numpy(a).permute(0, 3, 1, 2).float()
    tb = torch.from_numpy(b).permute(0, 3, 1, 2).float()
    return float(ssim(ta, tb, data_range=255, size_average=True))


def flicker(original: np.ndarray, marked: np.ndarray) -> float:
    """Mean absolute frame-to-frame change of the watermark residual (0-255 luma units)."""
    residual = marked.astype(np.float32).mean(-1) - original.astype(np.float32).mean(-1)
    return float(np.abs(np.diff(residual, axis=0)).mean())


class DwtDctBaseline:
    """invisible-watermark's DWT-DCT with the same 64-bit ID in every frame; majority vote over frames."""

    def __init__(self) -> None:
        from imwatermark import WatermarkDecoder, WatermarkEncoder

        self.encoder_class, self.decoder = WatermarkEncoder, WatermarkDecoder("bits", 64)

    def embed(self, frames: np.ndarray, generation_id: str) -> np.ndarray:
        encoder = self.encoder_class()
        encoder.set_watermark(
            "bits", [int(b) for b in np.unpackbits(np.frombuffer(bytes.fromhex(generation_id), np.uint8))]
        )
        return np.stack([encoder.encode(f[..., ::-1].copy(), "dwtDct")[..., ::-1] for f in frames])

    def read(self, frames: np.ndarray) -> str | None:
        votes = []
        for frame in frames:
            try:
                votes.append(
                    np.array(self.decoder.decode(np.ascontiguousarray(frame[..., ::-1]), "dwtDct"), dtype=float)
                )
            except Exception:  # the library raises on frames too small for its transform
                continue
        if not votes:
            return None
        bits = (np.mean(votes, axis=0) > 0.5).astype(np.uint8)
        return np.packbits(bits).tobytes().hex()


def speed_key(device: str) -> str:
    """Where a speed measurement goes in the results: the CPU's and a GPU's are kept side by side, so a run
    on a lent GPU adds its numbers to the CPU's instead of replacing them."""
    return "speed_512" if device == "cpu" else "speed_512_gpu"


SPEED_KEYS = (speed_key("cpu"), speed_key("cuda"))


def measure_speed(watermarker: VideoWatermarker, device: str, clips: int = 6) -> dict:
    """Embed and extract frames per second at 512 x 512 on real 2-second clips: the median over `clips`
    clips, and the range (the channel passes run x264, whose speed depends on content: single clips
    read 26-41 fps). The clips are the same in every run: the first shared videos in a fixed order."""
    real = load_clips(512, clips, np.random.default_rng(2))
    if not real:
        real = [np.random.default_rng(1).integers(0, 255, (50, 512, 512, 3), dtype=np.uint8)]
    generation_id = np.random.default_rng(3).bytes(8).hex()
    watermarker.embed(real[0][:4], generation_id)
    embed, extract = [], []
    for frames in real:
        start = time.perf_counter()
        watermarker.embed(frames, generation_id)
        embed.append(len(frames) / (time.perf_counter() - start))
        start = time.perf_counter()
        watermarker.statistics(frames)
        extract.append(len(frames) / (time.perf_counter() - start))
    return {
        "embed_fps": round(float(np.median(embed)), 1),
        "embed_fps_range": [round(min(embed), 1), round(max(embed), 1)],
        "extract_fps": round(float(np.median(extract)), 1),
        "extract_fps_range": [round(min(extract), 1), round(max(extract), 1)],
        "clips": len(real),
        "content": f"median over {len(real)} real 2-s clips" if len(real) > 1 else "one 2-s clip",
        "git_commit": git_commit(),
        "device": device_description(device),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=20)
    parser.add_argument(
        "--fp-clips", type=int, default=1000, help="unmarked clips to read; 0 keeps the existing false-positive results"
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--weights", type=Path, default=None)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--speed-only", action="store_true", help="re-measure speed into the existing results")
    parser.add_argument(
        "--fp-only", action="store_true", help="re-measure false positives (first size) into the existing results"
    )
    parser.add_argument(
        "--bias-only",
        action="store_true",
        help="re-measure the per-bit bias on views of the unmarked clips (first size) into the existing results",
    )
    parser.add_argument(
        "--crop-draws", type=int, default=3, help="draws of --clips clips to count the crop rows over (1: the bench's)"
    )
    parser.add_argument(
        "--crops-only",
        action="store_true",
        help="re-measure the crop rows over --crop-draws draws (every size given) into the existing results",
    )
    args = parser.parse_args()
    if not (SHARED_DATA / "videos").is_dir():
        raise SystemExit(f"shared corpus not found at {SHARED_DATA}")
    watermarker = VideoWatermarker.from_pretrained(args.weights, device=args.device)
    previous = read_results("watermark_robustness")
    partial = args.speed_only or args.fp_only or args.bias_only or args.crops_only or args.fp_clips == 0
    if partial and previous is None:
        raise SystemExit(f"no earlier results in {RESULTS_DIR} to add to: run the whole suite first")
    if args.speed_only:
        results = previous
        results[speed_key(args.device)] = measure_speed(watermarker, args.device)
        write_markdown_and_plot(results)
        return
    if args.crops_only:
        results = previous
        for size in args.sizes:
            if str(size) not in results["sizes"]:
                raise SystemExit(f"no earlier {size} px results to add the crops to: run that size first")
            results["sizes"][str(size)]["crops_over_draws"] = crops_over_draws(
                watermarker, size, results["sizes"][str(size)]["clips"], args.crop_draws
            )
        write_markdown_and_plot(results)
        return
    if args.fp_only or args.bias_only:
        results = previous
        results |= measure_unmarked(
            watermarker, args.fp_clips, args.sizes[0], false_positives=args.fp_only, bias=args.bias_only
        )
        write_markdown_and_plot(results)
        return
    baseline = DwtDctBaseline()
    results: dict = {"device": device_description(args.device), "git_commit": git_commit(), "sizes": {}}
    # Sizes not run now keep their last measurement, if it was drawn with the per-size seeds below (a
    # change that only matters at 512 px then costs only the 512 px run).
    for size, entry in (previous or {}).get("sizes", {}).items():
        if int(size) not in args.sizes and "clip_seed" in entry:
            results["sizes"][size] = entry
    for size in args.sizes:
        # Every size has its own seeds: its clips and attacks (rng) and its IDs (id_rng), so a rerun embeds
        # the same IDs in the same clips whichever sizes it runs, and runs compare clip by clip (with fresh
        # random IDs, CRF 28 + crop at 256 px read 70-90 % of 20 clips).
        clip_seed, id_seed = draw_seeds(size, 0)
        rng, id_rng = np.random.default_rng(clip_seed), np.random.default_rng(id_seed)
        clips = load_clips(size, args.clips, rng)
        table = {name: {"candor": 0, "candor_detected": 0, "candor_wrong_id": 0, "dwtdct": 0} for name in attacks(rng)}
        quality = {"candor_psnr": [], "candor_ssim": [], "candor_flicker": [], "dwtdct_psnr": [], "dwtdct_ssim": []}
        # Every clip's reading per attack (p-value; 1 exact ID, 0 no detection, -1 wrong ID): a rate that
        # moves between runs can be traced to the clips that moved.
        per_clip: dict[str, list] = {name: [] for name in table}
        for clip in clips:
            generation_id = id_rng.bytes(8).hex()
            marked = watermarker.embed(clip, generation_id)
            baseline_marked = baseline.embed(clip, generation_id)
            quality["candor_psnr"].append(psnr(marked, clip))
            quality["candor_ssim"].append(ssim_score(marked, clip))
            quality["candor_flicker"].append(flicker(clip, marked))
            quality["dwtdct_psnr"].append(psnr(baseline_marked, clip))
            quality["dwtdct_ssim"].append(ssim_score(baseline_marked, clip))
            for name, attack in attacks(rng).items():
                report = watermarker.read_frames(attack(marked), fps=FPS)
                table[name]["candor"] += int(report.detected and report.id == generation_id)
                table[name]["candor_detected"] += int(report.detected)
                table[name]["candor_wrong_id"] += int(report.id is not None and report.id != generation_id)
                outcome = id_outcome(report, generation_id)
                per_clip[name].append([float(f"{report.p_value:.3g}"), outcome])
                table[name]["dwtdct"] += int(baseline.read(attack(baseline_marked)) == generation_id)
        rates = {name: {k: v / len(clips) for k, v in row.items()} for name, row in table.items()}
        results["sizes"][str(size)] = {
            "clips": len(clips),
            "clip_seed": [0, size],
            "git_commit": results["git_commit"],
            "quality": {k: round(float(np.mean(v)), 4) for k, v in quality.items()},
            "exact_id_rate": rates,
            "per_clip": per_clip,
            "crops_over_draws": crops_over_draws(watermarker, size, args.clips, args.crop_draws, per_clip),
        }
        print(size, results["sizes"][str(size)]["quality"], flush=True)
    results["sizes"] = dict(sorted(results["sizes"].items(), key=lambda item: int(item[0])))
    # False positives and per-bit bias on unmarked clips (at the first size); --fp-clips 0 keeps the
    # section already measured (it records the commit it was read with), an hour of work on this CPU.
    if args.fp_clips > 0:
        results |= measure_unmarked(watermarker, args.fp_clips, args.sizes[0])
    else:
        results["false_positives"] = previous["false_positives"]
        if "bit_bias" in previous:
            results["bit_bias"] = previous["bit_bias"]
    gc.collect()
    for key in SPEED_KEYS:
        if previous and key in previous:
            results[key] = {"device": previous["device"]} | previous[key]
    results[speed_key(args.device)] = measure_speed(watermarker, args.device)
    write_markdown_and_plot(results)


def write_markdown_and_plot(results: dict) -> None:
    lines = [f"# Watermark robustness\n\nDevice: {results['device']}\n"]
    for size, entry in results["sizes"].items():
        q = entry["quality"]
        commit = entry.get("git_commit", results.get("git_commit"))
        lines.append(
            f"\n## {size}x{size}, {entry['clips']} clips of 2 s\n\n"
            + (f"Measured with the code of commit {commit}.\n\n" if commit else "")
            + f"Quality: Candor PSNR {q['candor_psnr']:.2f} dB, "
            f"SSIM {q['candor_ssim']:.4f}, residual flicker {q['candor_flicker']:.3f} (0-255 units); "
            f"DWT-DCT PSNR {q['dwtdct_psnr']:.2f} dB, SSIM {q['dwtdct_ssim']:.4f}\n\n"
        )
        rows = [
            [
                name,
                f"{r['candor']:.0%}",
                f"{r['candor_detected']:.0%}" if "candor_detected" in r else "",
                f"{r['candor_wrong_id']:.0%}" if "candor_wrong_id" in r else "",
                f"{r['dwtdct']:.0%}",
            ]
            for name, r in entry["exact_id_rate"].items()
        ]
        header = ["attack", "Candor (p < 1e-6, exact ID)", "Candor detected (ID or not)", "Candor wrong ID"]
        lines.append(markdown_table([*header, "DWT-DCT (exact ID)"], rows))
        if "crops_over_draws" in entry:
            lines.append(crops_markdown(entry["crops_over_draws"]))
    fp = results["false_positives"]
    lines.append(
        f"\n## False positives\n\n{fp['detections']} detections on {fp['unmarked_clips']} unmarked clips; "
        + (
            "per-bit bias (the reader's bits at the identity alignment, one reading per clip) "
            if fp.get("bits") == "reader at the identity"
            else "per-bit bias (the training path's matched filter, one reading per clip) "
        )
        + f"max {fp['max_per_bit_bias']}, mean {fp['mean_per_bit_bias']} (fair bits would show "
        f"{fp.get('mean_bias_of_fair_bits')} on average with this many independent clips; "
        + (
            f"clustered by their {fp['sources']} sources: bits not fair at 5 % (Bonferroni) "
            f"{fp['bits_not_fair_at_5_percent']}, RMS bias of the bits themselves {fp['rms_bias_between_halves']})"
            if "bits_not_fair_at_5_percent" in fp
            else f"chi-square test of fair bits p = {fp.get('fair_bits_chi_square_p', float('nan')):.3g})"
        )
        + (
            f"; p-values: smallest {fp['smallest_p_value']:.3g}, below 0.01 in {fp['share_p_below_0.01']:.1%} "
            f"and below 0.1 in {fp['share_p_below_0.1']:.1%} of them (valid p-values: at most 1 % and 10 %)\n"
            if "smallest_p_value" in fp
            else "\n"
        )
    )
    if "git_commit" in fp:
        lines.append(
            f"\nRead at {fp['size']} px with the code of commit {fp['git_commit']}; the decision took "
            f"{fp['decide_seconds_median']} s per clip (median).\n"
        )
    if "by_kind" in fp:
        lines.append(
            "\n"
            + markdown_table(
                ["unmarked clips", "clips", "sources", "detections", "smallest p"],
                [
                    [
                        UNMARKED_KIND_NAMES.get(kind, kind),
                        k["clips"],
                        k["sources"],
                        k["detections"],
                        f"{k['smallest_p_value']:.3g}",
                    ]
                    for kind, k in fp["by_kind"].items()
                ],
            )
            + "\n"
        )
    if "bit_bias" in results:
        bias = results["bit_bias"]
        lines.append(
            f"\nPer-bit bias on {bias['views']} views of {bias['clips']} of these clips ({bias['sources']} videos and "
            f"portraits; each orientation cropped at {len(BIAS_VIEW_OFFSETS) ** 2} offsets, "
            f"every {BIAS_FRAME_STEP}th frame, read at the "
            f"identity alignment): max {bias['max_per_bit_bias']}, mean {bias['mean_per_bit_bias']} (independent "
            f"fair bits: {bias['mean_bias_of_fair_bits']}; a clip's views correlate "
            f"{bias['view_correlation_within_clip']}, but a source's clips share content: clustered standard "
            f"error {bias['mean_clustered_standard_error']}); bits not fair at 5 % (Bonferroni): "
            f"{bias['bits_not_fair_at_5_percent']}; largest bias the readings leave possible (simultaneous 95 %): "
            f"{bias['max_bias_upper_bound_95']}; RMS bias of the bits themselves, from two halves with no source "
            f"in common: {bias['rms_bias_between_halves']} (the halves' biases correlate "
            f"{bias['halves_bias_correlation']}). Code of commit {bias['git_commit']}.\n"
        )
    lines.append("\n## Speed at 512x512\n")
    for key in SPEED_KEYS:
        if key in results:
            lines.append(speed_markdown(results[key], results["device"]))
    markdown = "".join(lines)
    write_results("watermark_robustness", results, markdown)
    plot(results, RESULTS_DIR / "watermark_robustness.png")
    print(markdown)


def crops_markdown(crops: dict) -> str:
    """The crop rows over several draws, one sentence."""
    seeds = ", ".join(str(clip_seed) for clip_seed, _ in crops["draws"][1:])
    rows = "; ".join(
        f"{name}: {row['exact']}/{crops['clips']} ({row['rate']:.0%}; "
        + " / ".join(str(count) for count in row["per_draw"])
        + f"), wrong ID {row['wrong_id']}"
        for name, row in crops["rows"].items()
    )
    return (
        f"\nThe crop rows over {len(crops['draws'])} draws of {crops['clips'] // len(crops['draws'])} clips "
        f"(the bench's" + (f", then clip seeds {seeds}" if seeds else "") + f"): {rows}. "
        f"Code of commit {crops['git_commit']}.\n"
    )


def speed_markdown(speed: dict, run_device: str) -> str:
    """One speed measurement, one line; measurements from before the speed carried its device were made on
    the run's."""
    return (
        f"\n{speed.get('device', run_device)}: embed {speed['embed_fps']} fps {_range(speed, 'embed_fps_range')}, "
        f"extract {speed['extract_fps']} fps {_range(speed, 'extract_fps_range')} "
        f"(on {speed.get('content', 'random frames')}"
        + (f", code of commit {speed['git_commit']}" if "git_commit" in speed else "")
        + ")\n"
    )


def _range(speed: dict, key: str) -> str:
    return f"({speed[key][0]}-{speed[key][1]})" if key in speed else ""


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = list(results["sizes"])
    names = list(results["sizes"][sizes[0]]["exact_id_rate"])
    figure, axes = plt.subplots(1, len(sizes), figsize=(7 * len(sizes), 5), squeeze=False)
    for axis, size in zip(axes[0], sizes, strict=True):
        rates = results["sizes"][size]["exact_id_rate"]
        positions = np.arange(len(names))
        axis.barh(positions - 0.2, [rates[n]["candor"] for n in names], height=0.4, label="Candor")
        axis.barh(positions + 0.2, [rates[n]["dwtdct"] for n in names], height=0.4, label="DWT-DCT")
        axis.set_yticks(positions, names)
        axis.invert_yaxis()
        axis.set_xlim(0, 1)
        axis.set_xlabel("exact ID recovered")
        axis.set_title(f"{size}x{size}")
        axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
