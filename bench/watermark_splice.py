"""A marked excerpt spliced into other footage: is it found, with its ID, and where?

    python -m bench.watermark_splice [--clips 20] [--size 256] [--crf 28]

The watermark robustness suite's clips and generation IDs (same seeds): each marked 2-second clip is
spliced at 8-10 s into 20 s of the other clips' unmarked footage (ten other shared videos), and the
whole video is re-encoded with H.264 (libx264, preset medium) as a platform would. Success = detected
at p < 1e-6 with the exact ID; the report's `marked_seconds` says where the mark reads. Writes
bench/results/watermark_splice.{json,md,png}.
"""

from __future__ import annotations

import argparse

import numpy as np

from bench.common import RESULTS_DIR, SHARED_DATA, device_description, markdown_table, write_results
from bench.watermark_robustness import FPS, encode_video, load_clips
from watermark.inference import VideoWatermarker

BEFORE, AFTER = 4, 6  # unmarked 2-s clips before and after the marked one


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
    id_rng = np.random.default_rng(1)  # the robustness suite's IDs, clip by clip
    if len(clips) < BEFORE + AFTER + 1:
        raise SystemExit(f"need at least {BEFORE + AFTER + 1} shared videos, found {len(clips)}")
    rows = []
    for number, clip in enumerate(clips):
        generation_id = id_rng.bytes(8).hex()
        others = [clips[(number + step) % len(clips)] for step in range(1, BEFORE + AFTER + 1)]
        video = np.concatenate([*others[:BEFORE], watermarker.embed(clip, generation_id), *others[BEFORE:]])
        report = watermarker.read_frames(encode_video(video, crf=args.crf), fps=FPS)
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
    start = BEFORE * len(clips[0]) / FPS
    results = {
        "device": device_description(),
        "size": args.size,
        "crf": args.crf,
        "video_seconds": (BEFORE + AFTER + 1) * len(clips[0]) / FPS,
        "marked_seconds_true": [start, start + len(clips[0]) / FPS],
        "exact_id_rate": sum(row["exact_id"] for row in rows) / len(rows),
        "wrong_ids": sum(row["wrong_id"] for row in rows),
        "clips": rows,
    }
    markdown = (
        f"# A marked excerpt spliced into other footage\n\nDevice: {results['device']}\n\n"
        f"{len(rows)} marked 2-s clips at {args.size} px, each at {start:g}-{start + 2:g} s of a "
        f"{results['video_seconds']:g}-s video of other clips, re-encoded at H.264 CRF {args.crf}: exact ID "
        f"{results['exact_id_rate']:.0%}, wrong IDs {results['wrong_ids']}\n\n"
        + markdown_table(
            ["clip", "exact ID", "p-value", "marked_seconds", "1-s spans detected"],
            [
                [n, row["exact_id"], row["p_value"], row["marked_seconds"], row["spans_detected"]]
                for n, row in enumerate(rows)
            ],
        )
    )
    write_results("watermark_splice", results, markdown)
    plot(rows, RESULTS_DIR / "watermark_splice.png")
    print(markdown)


def plot(rows: list[dict], path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(8, 4))
    evidence = [-np.log10(max(row["p_value"], 1e-300)) for row in rows]
    axis.bar(range(len(rows)), evidence, color=["tab:green" if row["exact_id"] else "tab:red" for row in rows])
    axis.axhline(6, color="black", linestyle="--", label="detection threshold (p = 1e-6)")
    axis.set_xlabel("clip")
    axis.set_ylabel("-log10 p-value")
    axis.set_title("Marked 2-s excerpt spliced into 22 s of other footage, H.264 re-encode")
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
