"""A marked excerpt spliced into other footage: is it found, with its ID, and where?

    python -m bench.watermark_splice [--clips 20] [--size 256] [--crf 28]

The watermark robustness suite's clips and generation IDs (same seeds): each marked 2-second clip is
spliced at 8-10 s into 20 s of the other clips' unmarked footage (ten other shared videos), and the
whole video is re-encoded with H.264 (libx264, preset medium) as a platform would. Two ways of splicing:
the clip as generated, and the clip zoomed to fill the frame first (its centre 75 % brought back to
full size), a geometry the rest of the video does not share. Success = detected at p < 1e-6 with the
exact ID; the report's `marked_seconds` says where the mark reads. Writes
bench/results/watermark_splice.{json,md,png}.
"""

from __future__ import annotations

import argparse

import numpy as np

from bench.common import RESULTS_DIR, SHARED_DATA, device_description, git_commit, markdown_table, write_results
from bench.watermark_robustness import FPS, centre_crop, encode_video, load_clips, resize
from watermark.inference import VideoWatermarker

BEFORE, AFTER = 4, 6  # unmarked 2-s clips before and after the marked one


def zoomed_to_fill(frames: np.ndarray) -> np.ndarray:
    """The centre 75 % of square frames brought back to their size (a zoom of 1.33)."""
    size = frames.shape[1]
    return resize(centre_crop(frames, 0.75), size / round(size * 0.75))[:, :size, :size]


SPLICES = {"as generated": lambda frames: frames, "zoomed to fill (centre 75 %)": zoomed_to_fill}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=20)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--crf", type=int, default=28)
    args = parser.parse_args()
    if not (SHARED_DATA / "videos").is_dir():
        raise SystemExit(f"shared corpus not found at {SHARED_DATA}")
    watermarker = VideoWatermarker.from_pretrained()
    clips = load_clips(args.size, args.clips, np.random.default_rng(0))
    if len(clips) < BEFORE + AFTER + 1:
        raise SystemExit(f"need at least {BEFORE + AFTER + 1} shared videos, found {len(clips)}")
    start = BEFORE * len(clips[0]) / FPS
    results = {
        "device": device_description(),
        "git_commit": git_commit(),
        "size": args.size,
        "crf": args.crf,
        "video_seconds": (BEFORE + AFTER + 1) * len(clips[0]) / FPS,
        "marked_seconds_true": [start, start + len(clips[0]) / FPS],
        "splices": {},
    }
    for splice, reframe in SPLICES.items():
        rows = read_spliced(watermarker, clips, reframe, args.crf)
        results["splices"][splice] = {
            "exact_id_rate": sum(row["exact_id"] for row in rows) / len(rows),
            "wrong_ids": sum(row["wrong_id"] for row in rows),
            "marked_seconds_exact": sum(row["marked_seconds"] == [results["marked_seconds_true"]] for row in rows),
            "clips": rows,
        }
    markdown = f"# A marked excerpt spliced into other footage\n\nDevice: {results['device']}\n\n"
    markdown += f"Code of commit {results['git_commit']}.\n"
    for splice, entry in results["splices"].items():
        rows = entry["clips"]
        markdown += (
            f"\n## Spliced {splice}\n\n{len(rows)} marked 2-s clips at {args.size} px, "
            f"each at {start:g}-{start + 2:g} s "
            f"of a {results['video_seconds']:g}-s video of other clips, re-encoded at H.264 CRF {args.crf}: exact ID "
            f"{entry['exact_id_rate']:.0%}, wrong IDs {entry['wrong_ids']}, marked_seconds exactly "
            f"{start:g}-{start + 2:g} s for {entry['marked_seconds_exact']}\n\n"
            + markdown_table(
                ["clip", "exact ID", "p-value", "marked_seconds", "1-s spans detected"],
                [
                    [n, row["exact_id"], row["p_value"], row["marked_seconds"], row["spans_detected"]]
                    for n, row in enumerate(rows)
                ],
            )
        )
    write_results("watermark_splice", results, markdown)
    plot(results["splices"], RESULTS_DIR / "watermark_splice.png")
    print(markdown)


def read_spliced(watermarker: VideoWatermarker, clips: list[np.ndarray], reframe, crf: int) -> list[dict]:
    """Each clip marked with its ID, reframed, spliced between other clips, re-encoded and read."""
    id_rng = np.random.default_rng(1)  # the robustness suite's IDs, clip by clip
    rows = []
    for number, clip in enumerate(clips):
        generation_id = id_rng.bytes(8).hex()
        others = [clips[(number + step) % len(clips)] for step in range(1, BEFORE + AFTER + 1)]
        marked = reframe(watermarker.embed(clip, generation_id))
        video = encode_video(np.concatenate([*others[:BEFORE], marked, *others[BEFORE:]]), crf=crf)
        report = watermarker.read_frames(video, fps=FPS)
        rows.append(
            {
                "exact_id": bool(report.detected and report.id == generation_id),
                "wrong_id": bool(report.id is not None and report.id != generation_id),
                "p_value": float(f"{report.p_value:.3g}"),
                "marked_seconds": report.marked_seconds,
                "spans_detected": sum(span.detected for span in report.spans),
            }
        )
        print(number, rows[-1], flush=True)
    return rows


def plot(splices: dict[str, dict], path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(splices), figsize=(6 * len(splices), 4), sharey=True, squeeze=False)
    for axis, (splice, entry) in zip(axes[0], splices.items(), strict=True):
        rows = entry["clips"]
        evidence = [-np.log10(max(row["p_value"], 1e-300)) for row in rows]
        axis.bar(range(len(rows)), evidence, color=["tab:green" if row["exact_id"] else "tab:red" for row in rows])
        axis.axhline(6, color="black", linestyle="--", label="detection threshold (p = 1e-6)")
        axis.set_xlabel("clip")
        axis.set_title(f"spliced {splice}")
    axes[0][0].set_ylabel("-log10 p-value")
    axes[0][0].legend(loc="lower right")
    figure.suptitle("Marked 2-s excerpt spliced into 22 s of other footage, H.264 re-encode")
    figure.tight_layout()
    figure.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
