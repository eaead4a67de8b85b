"""`candor watermark embed|extract`: Candor's invisible watermark on any video or image."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from service.cli.errors import EXIT_BAD_INPUT, stderr, user_errors

# Whole seconds per embed call: the embedder corrects groups of frames and re-encodes them as a platform
# would, so it should see more than a handful at a time.
FRAMES_PER_CALL = 100

app = typer.Typer(help="Embed or read Candor's invisible watermark.", no_args_is_help=True)
console = Console()


@app.command()
def embed(
    source: Annotated[Path, typer.Argument(help="Video (MP4 etc.) or image (PNG/JPEG) to mark.")],
    destination: Annotated[Path, typer.Argument(help="Output: MP4 (H.264 + AAC) for video, PNG for images.")],
    generation_id: Annotated[str, typer.Option("--id", help="Generation ID: 16 hex digits.")],
    crf: Annotated[int, typer.Option(help="H.264 quality of the output video.")] = 18,
    weights: Annotated[Path | None, typer.Option(help="Watermark weights (default: the committed ones).")] = None,
) -> None:
    """Write a copy of SOURCE whose every frame carries the generation ID. DESTINATION appears only once
    complete (it may be SOURCE itself); on an error it is left as it was. A SOURCE that already carries
    another generation ID is refused (exit 2): the new mark would erase the old one."""
    from media.image import load_image, save_image
    from watermark.inference import IMAGE_SUFFIXES, VideoWatermarker
    from watermark.payload import parse_generation_id

    try:
        generation_id = parse_generation_id(generation_id)
    except ValueError as err:
        stderr.print(f"[bold red]error:[/] {err}", highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_BAD_INPUT) from err
    is_image = source.suffix.lower() in IMAGE_SUFFIXES
    if is_image != (destination.suffix.lower() in IMAGE_SUFFIXES):
        wanted = "an image (" + ", ".join(IMAGE_SUFFIXES) + ")" if is_image else "a video (.mp4)"
        message = f"{destination}: the output of {source.name} must be {wanted}"
        stderr.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_BAD_INPUT)
    with user_errors():
        watermarker = VideoWatermarker.from_pretrained(weights)
        earlier = _earlier_ids(watermarker, source, is_image) - {generation_id}
        if earlier:
            ids = ", ".join(sorted(earlier))
            stderr.print(
                f"[bold red]error:[/] {source} already carries Candor's watermark with generation ID {ids}; "
                f"marking it with {generation_id} would erase the record of the generation it came from. "
                "Mark the original it was made from instead.",
                highlight=False,
                soft_wrap=True,
            )
            raise typer.Exit(EXIT_BAD_INPUT)
        destination.parent.mkdir(parents=True, exist_ok=True)
        if is_image:
            save_image(destination, watermarker.embed(load_image(source)[None], generation_id)[0])
        else:
            _embed_video(watermarker, source, destination, generation_id, crf)
    console.print(f"wrote {destination} carrying generation ID {generation_id}")


def _earlier_ids(watermarker, source: Path, is_image: bool) -> set[str]:
    """The generation IDs SOURCE already carries (in the whole of it or in a span). Informed embedding
    treats an earlier mark as part of the picture and cancels it, so marking a marked video with another
    ID would silently replace the generation it names: embed refuses instead."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from media.video import probe_video
    from watermark.inference import DEFAULT_MAX_SECONDS

    if is_image:
        report = watermarker.read_file(source)
    else:
        columns = (
            TextColumn("checking for a mark"),
            BarColumn(),
            TextColumn("{task.completed:.0f} s"),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=stderr, transient=True) as progress:
            task = progress.add_task("check", total=min(probe_video(source).duration, DEFAULT_MAX_SECONDS) or None)
            report = watermarker.read_file(source, on_progress=lambda done: progress.update(task, completed=done))
    found = {span.id for span in report.spans if span.detected}
    return found | {report.id} if report.detected else found


def _embed_video(watermarker, source: Path, destination: Path, generation_id: str, crf: int) -> None:
    """Mark SOURCE's frames in calls of FRAMES_PER_CALL into an H.264 copy with its audio, with a
    progress bar on stderr (a long video takes minutes)."""
    import numpy as np
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from media.audio import decode_audio
    from media.video import VideoWriter, iter_frames, probe_video

    info = probe_video(source)
    audio = decode_audio(source)
    columns = (
        TextColumn("marking"),
        BarColumn(),
        TextColumn("{task.completed:.0f}/{task.total:.0f} s"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with (
        Progress(*columns, console=stderr, transient=True) as progress,
        VideoWriter(destination, fps=info.fps, crf=crf) as writer,
    ):
        task = progress.add_task("embed", total=info.duration or None)
        if audio is not None and len(audio.samples):
            writer.add_audio(audio)
        batch, time = [], 0.0
        for time, frame in iter_frames(source):
            batch.append(frame)
            if len(batch) == FRAMES_PER_CALL:
                for marked in watermarker.embed(np.stack(batch), generation_id):
                    writer.write(marked)
                batch = []
                progress.update(task, completed=time)
        if batch:
            for marked in watermarker.embed(np.stack(batch), generation_id):
                writer.write(marked)
        progress.update(task, completed=info.duration or time)
        written = writer.frames_written
    # FFmpeg decodes a truncated file up to where its data ends, without an error.
    if info.n_frames and written < info.n_frames - 1:
        stderr.print(
            f"[yellow]warning:[/] {source} ended after {written} of its {info.n_frames} frames (a truncated file?); "
            "the copy holds the frames that could be read",
            highlight=False,
            soft_wrap=True,
        )


@app.command()
def extract(
    source: Annotated[Path, typer.Argument(help="Video or image to read.")],
    as_json: Annotated[bool, typer.Option("--json", help="Full JSON report (per-bit confidence, spans).")] = False,
    max_seconds: Annotated[float, typer.Option(help="Read at most this many seconds of a video.")] = 600.0,
    span_seconds: Annotated[float, typer.Option(help="Length of the per-span readings.")] = 1.0,
    weights: Annotated[Path | None, typer.Option(help="Watermark weights (default: the committed ones).")] = None,
) -> None:
    """Read the watermark. Exit code 0 when detected (p < 1e-6) in the whole video or in a span of it, 1
    when not, 2 on bad input."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from media.video import probe_video
    from watermark.inference import IMAGE_SUFFIXES, VideoWatermarker

    with user_errors():
        watermarker = VideoWatermarker.from_pretrained(weights)
        if source.suffix.lower() in IMAGE_SUFFIXES:
            report = watermarker.read_file(source)
        else:
            seconds = min(probe_video(source).duration, max_seconds) or None
            columns = (TextColumn("reading"), BarColumn(), TextColumn("{task.completed:.0f} s"), TimeElapsedColumn())
            with Progress(*columns, console=stderr, transient=True) as progress:
                task = progress.add_task("read", total=seconds)
                report = watermarker.read_file(
                    source,
                    max_seconds=max_seconds,
                    span_seconds=span_seconds,
                    on_progress=lambda done: progress.update(task, completed=done),
                )
    if as_json:
        print(json.dumps(report.to_dict(), indent=1))
    else:
        state = f"[green]detected[/] ID {report.id}" if report.detected else "[dim]not detected[/]"
        state += " in the mirrored video" if report.mirrored else ""
        state += f" in the video turned {report.rotation:+g} degrees" if report.rotation else ""
        corrected = f"{report.corrected_bits} bits corrected, " if report.detected else ""
        evidence = f"p = {report.p_value:.2e}, {corrected}{report.frames} frames"
        console.print(f"{source}: {state}  ({evidence})")
        found = [span for span in report.spans if span.detected]
        where = f" ({_seconds(report.marked_seconds)})" if found and len(found) < len(report.spans) else ""
        console.print(f"spans of {span_seconds:g} s with the watermark: {len(found)}/{len(report.spans)}{where}")
    raise typer.Exit(0 if report.detected else 1)


def _seconds(ranges: list[list[float]]) -> str:
    """'4-6 s, 56-58 s'."""
    return ", ".join(f"{start:g}-{end:g} s" for start, end in ranges)
