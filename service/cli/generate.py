"""`candor generate`: portrait + speech -> a watermarked, C2PA-signed talking-face MP4."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from service.cli.errors import EXIT_BAD_INPUT, stderr, user_errors
from service.cli.paths import default_keys_dir, default_manifest_store

console = Console()


def _pair(value: str | None) -> tuple[float, float] | None:
    if value is None:
        return None
    try:
        theta, phi = (float(part) for part in value.split(","))
    except ValueError as err:
        raise typer.BadParameter(f"expected THETA,PHI in degrees (e.g. 10,-5), got {value!r}") from err
    return theta, phi


def generate(
    image: Annotated[Path, typer.Option("--image", help="Portrait photo (PNG, JPEG, WebP) with one visible face.")],
    audio: Annotated[Path, typer.Option("--audio", help="Speech (WAV, MP3, FLAC, M4A, or a video's audio).")],
    out: Annotated[Path, typer.Option("--out", help="Output MP4 (H.264 + AAC, signed).")],
    gaze: Annotated[
        str | None,
        typer.Option(
            help="Gaze direction THETA,PHI in degrees (+ right, + up; the rendered eyes turn toward it, up to "
            "25 deg); default: free."
        ),
    ] = None,
    distance: Annotated[
        float | None, typer.Option(help="Head distance relative to the portrait (0.5-2.0; 1.2 = farther).")
    ] = None,
    emotion: Annotated[str | None, typer.Option(help="neutral, happy, angry or surprised.")] = None,
    steps: Annotated[int, typer.Option(min=1, max=1000, help="Diffusion sampling steps (10 fast, 50 quality).")] = 10,
    seed: Annotated[int, typer.Option(help="Same seed, same inputs -> same output.")] = 0,
    audio_guidance: Annotated[
        float, typer.Option(min=0.0, max=5.0, help="Classifier-free guidance on audio (more = livelier motion).")
    ] = 0.5,
    emotion_guidance: Annotated[
        float | None,
        typer.Option(min=0.0, max=8.0, help="Classifier-free guidance on --emotion (more = stronger; default 2.0)."),
    ] = None,
    eta: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Sampler noise: 0 deterministic DDIM, 1 DDPM-like (seeded).")
    ] = 0.5,
    preset: Annotated[str, typer.Option(help="Model size: tiny (128 px, CPU real time), base, full.")] = "tiny",
    size: Annotated[
        int | None,
        typer.Option(
            min=64,
            max=2048,
            help="Output side in pixels (default 256: the tiny model renders 128, upsampled).",
        ),
    ] = None,
    device: Annotated[str | None, typer.Option(help="cpu or cuda (default: cuda if available).")] = None,
    weights: Annotated[Path | None, typer.Option(help="Weights folder (default: the committed weights).")] = None,
    keys_dir: Annotated[
        Path | None, typer.Option(help="Signing keys (default: $CANDOR_HOME/keys, created on first use).")
    ] = None,
    store: Annotated[Path | None, typer.Option(help="Manifest store (default: $CANDOR_HOME/manifests.db).")] = None,
) -> None:
    """Generate a talking-face video: every frame watermarked, the file signed with C2PA."""
    from generator.motion.config import GuidanceScales
    from generator.motion.controls import Controls
    from generator.pipeline import DELIVERY_SIZE, GenerationOptions, TalkingFacePipeline
    from media.audio import load_audio
    from media.image import load_image
    from media.weights import WeightsError
    from provenance.errors import ProvenanceError
    from provenance.keys import SIGNER_CHAIN, SignerConfig, init_development_keys, load_signer
    from provenance.store import ManifestStore
    from service.generation import input_media, write_signed_video

    if out.suffix.lower() != ".mp4":
        stderr.print(f"[bold red]error:[/] {out}: the output must be an .mp4 file", highlight=False)
        raise typer.Exit(EXIT_BAD_INPUT)
    try:
        controls = Controls(gaze_degrees=_pair(gaze), distance=distance, emotion=emotion)
    except ValueError as err:
        stderr.print(f"[bold red]error:[/] {err}", highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_BAD_INPUT) from err
    with user_errors(WeightsError, ProvenanceError):
        portrait = load_image(image)
        speech = load_audio(audio)
        keys_dir = keys_dir or default_keys_dir()
        if not (keys_dir / SIGNER_CHAIN).exists():
            init_development_keys(keys_dir)
            console.print(f"created development signing keys in {keys_dir} (see `candor keys init`)")
        signer = load_signer(SignerConfig.from_directory(keys_dir))
        pipeline = TalkingFacePipeline.from_pretrained(weights, preset=preset, device=device)
        progress = Progress(
            TextColumn("generating"), BarColumn(), MofNCompleteColumn(), TextColumn("frames"), TimeElapsedColumn(),
            console=console,
        )  # fmt: skip
        with progress:
            task = progress.add_task("generate", total=None)
            video = pipeline.generate(
                portrait,
                speech,
                controls,
                GenerationOptions(
                    steps=steps,
                    seed=seed,
                    guidance=GuidanceScales(
                        audio=audio_guidance,
                        emotion=GuidanceScales().emotion if emotion_guidance is None else emotion_guidance,
                    ),
                    eta=eta,
                    output_size=size or DELIVERY_SIZE,
                ),
                on_progress=lambda done, total: progress.update(task, completed=done, total=total),
            )
        record = write_signed_video(
            video,
            speech,
            out,
            signer=signer,
            store=ManifestStore.sqlite(store or default_manifest_store()),
            identity=pipeline.identity,
            inputs=(input_media("portrait", image), input_media("audio", audio)),
        )
    console.print(
        f"wrote {record.path}: {record.frames} frames ({record.seconds:.2f} s) at {video.frames.shape[2]}x"
        f"{video.frames.shape[1]}, watermark ID {record.generation_id}, signed "
        f"({record.sign_seconds * 1000:.0f} ms to sign, {video.timings['total_seconds']:.1f} s to generate)"
    )
