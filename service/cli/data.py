"""`candor data ...`: sample media and corpus preparation."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from media.prepare import ClipOutcome, PrepareConfig, SourceClip, prepare_corpus, summarize
from media.samples import write_sample_clip
from service.cli.errors import user_errors

app = typer.Typer(help="Prepare training data from talking-face videos.", no_args_is_help=True)
console = Console()


@app.command()
def sample(
    out_dir: Annotated[Path, typer.Argument(help="Folder to write the sample clips into.")],
    clips: Annotated[int, typer.Option(min=1, help="Number of clips.")] = 2,
    seconds: Annotated[float, typer.Option(min=1.0, help="Length of each clip.")] = 3.0,
) -> None:
    """Write bundled sample talking-face clips (an installed portrait, animated, with synthetic speech)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for index in range(clips):
        path = write_sample_clip(out_dir / f"sample_{index:02d}.mp4", seconds=seconds, seed=index)
        console.print(f"wrote {path}")


DEMO_SENTENCE = (
    "Hello. I am a portrait that has been brought to life by Candor. Every frame you see carries an "
    "invisible watermark, and the file is signed, so anyone can check that it was generated."
)


@app.command("demo-inputs")
def demo_inputs(
    out_dir: Annotated[Path, typer.Argument(help="Folder for portrait.png and speech.wav.")],
    text: Annotated[str, typer.Option(help="What the portrait says.")] = DEMO_SENTENCE,
    voice: Annotated[str, typer.Option(help="espeak-ng voice (language code: en, fr, de, cmn, ja, ...).")] = "en",
) -> None:
    """Write the bundled default inputs: scikit-image's astronaut portrait and espeak-ng speech."""
    from media.audio import save_wav
    from media.image import save_image
    from media.samples import sample_portrait
    from media.speech import synthesize_speech

    out_dir.mkdir(parents=True, exist_ok=True)
    with user_errors():
        speech = synthesize_speech(text, voice=voice)
    save_image(out_dir / "portrait.png", sample_portrait())
    save_wav(out_dir / "speech.wav", speech)
    console.print(f"wrote {out_dir / 'portrait.png'} and {out_dir / 'speech.wav'} ({speech.duration:.1f} s of speech)")


@app.command()
def prepare(
    src_dir: Annotated[Path, typer.Argument(help="Folder of videos, any layout (HDTF, VoxCeleb2, flat).")],
    out_dir: Annotated[Path, typer.Argument(help="Output folder for prepared clips.")],
    size: Annotated[int, typer.Option(help="Crop side in pixels: 128 (tiny), 256 (base), 512 (full).")] = 256,
    fps: Annotated[float, typer.Option(help="Output frame rate.")] = 25.0,
    manifest: Annotated[
        Path | None,
        typer.Option(help="TSV with `file` and `identity` columns (default: MANIFEST.tsv beside SRC)."),
    ] = None,
    min_face_fraction: Annotated[float, typer.Option(help="Skip clips with a face in fewer frames.")] = 0.5,
    retry_skipped: Annotated[bool, typer.Option(help="Try clips skipped by an earlier run again.")] = False,
) -> None:
    """Face-track, crop and resample every clip (resumable: finished clips are skipped)."""
    if size not in (128, 256, 512):
        raise typer.BadParameter("size must be 128, 256 or 512", param_hint="--size")
    config = PrepareConfig(size=size, fps=fps, min_face_fraction=min_face_fraction)
    with user_errors(), _progress() as progress:
        clips_task = progress.add_task("clips", total=None)
        frames_task = progress.add_task("frames", total=None)

        def on_clip_start(clip: SourceClip, index: int, total: int) -> None:
            progress.update(clips_task, total=total)
            progress.update(frames_task, description=clip.clip_id[:40], completed=0, total=None)

        def on_frames(done: int, total: int | None) -> None:
            progress.update(frames_task, completed=done, total=total)

        def on_clip_done(outcome: ClipOutcome) -> None:
            progress.advance(clips_task)
            if outcome.status == "skipped":
                progress.console.print(f"[yellow]skipped[/] {outcome.clip_id}: {outcome.reason}", highlight=False)

        outcomes = prepare_corpus(
            src_dir,
            out_dir,
            config,
            manifest=manifest,
            retry_skipped=retry_skipped,
            on_clip_start=on_clip_start,
            on_frames=on_frames,
            on_clip_done=on_clip_done,
        )
    _print_summary(out_dir, outcomes)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description:<40}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )


def _print_summary(out_dir: Path, outcomes: list[ClipOutcome]) -> None:
    import json

    summary = json.loads((out_dir / "summary.json").read_text())
    counts = summarize(outcomes)
    table = Table(title=f"prepared corpus: {out_dir}")
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_row("clips found", str(len(outcomes)))
    table.add_row("prepared this run", str(counts.get("prepared", 0)))
    table.add_row("finished before (skipped work)", str(counts.get("done-before", 0)))
    table.add_row("clips usable (total)", str(summary["clips_prepared"]))
    table.add_row("  with audio", str(summary["clips_with_audio"]))
    table.add_row("frames (total)", str(summary["frames"]))
    table.add_row("minutes (total)", str(summary["minutes"]))
    table.add_row("identities", str(summary["identities"]))
    table.add_row("skipped clips (total)", str(len(summary["skipped"])))
    console.print(table)
    for clip_id, reason in summary["skipped"].items():
        console.print(f"  skipped {clip_id}: {reason}", highlight=False)
