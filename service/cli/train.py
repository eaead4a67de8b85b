"""`candor train ...`: train the project's networks from a prepared corpus."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from media.weights import WeightsError
from service.cli.errors import user_errors

app = typer.Typer(help="Train the generator's networks on a prepared corpus.", no_args_is_help=True)
console = Console()


def _training_progress(title: str, metrics: str) -> Progress:
    """A bar for a training run: `title` and `metrics` are rich column templates over task fields."""
    return Progress(
        TextColumn(title),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(metrics),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
    )


def _pair(text: str, option: str) -> tuple[float, float]:
    """ "X,Y" -> (X, Y) non-negative floats; ValueError naming the option otherwise."""
    try:
        first, second = (float(part) for part in text.split(","))
    except ValueError:
        raise ValueError(f"{option} takes two numbers X,Y, got {text!r}") from None
    if first < 0 or second < 0:
        raise ValueError(f"{option} must be non-negative, got {text!r}")
    return first, second


@app.command()
def face(
    data: Annotated[Path, typer.Option(help="Prepared corpus (candor data prepare) at the preset's size.")],
    preset: Annotated[str, typer.Option(help="tiny (128 px), base (256 px) or full (512 px).")] = "tiny",
    steps: Annotated[
        int, typer.Option(min=1, help="Total optimisation steps (a resumed run continues to this).")
    ] = 6000,
    batch_size: Annotated[int, typer.Option(min=2)] = 8,
    run_dir: Annotated[Path | None, typer.Option(help="Run folder (config, log, resumable state).")] = None,
    out: Annotated[Path | None, typer.Option(help="Where to write the final safetensors (+ .json card).")] = None,
    device: Annotated[str | None, typer.Option(help="cpu, cuda or cuda:N (default: cuda if available).")] = None,
    seed: Annotated[int, typer.Option()] = 0,
    adversarial_start: Annotated[int | None, typer.Option(help="Step at which the GAN losses join.")] = None,
    learning_rate: Annotated[float | None, typer.Option(help="Peak learning rate (default 2e-4).")] = None,
    warmup_steps: Annotated[int | None, typer.Option(min=0, help="Linear warm-up steps (default 200).")] = None,
    init_from: Annotated[
        Path | None, typer.Option(help="Fine-tune from these face weights instead of starting from scratch.")
    ] = None,
    gaze_weight: Annotated[
        float,
        typer.Option(
            min=0.0, help="Weight of the gaze supervision (iris-redirected drivers + gaze network; default off)."
        ),
    ] = 0.0,
    gaze_shift: Annotated[
        str, typer.Option(help="Largest synthetic iris shift X,Y in eye-box half-widths (with --gaze-weight).")
    ] = "0.3,0.15",
) -> None:
    """Self-reenactment training of the face latent space; resumes from RUN_DIR/state.pt if present."""
    from generator.training.face_trainer import FaceTrainConfig, FaceTrainer, GazeSupervision

    with user_errors(ValueError):
        shift = _pair(gaze_shift, "--gaze-shift")
    config = FaceTrainConfig(
        preset=preset, steps=steps, batch_size=batch_size, seed=seed, gaze=GazeSupervision(gaze_weight, shift)
    )
    if adversarial_start is not None:
        config = dataclasses.replace(config, adversarial_start=adversarial_start)
    if learning_rate is not None:
        config = dataclasses.replace(config, learning_rate=learning_rate)
    if warmup_steps is not None:
        config = dataclasses.replace(config, warmup_steps=warmup_steps)
    run_dir = run_dir or Path("runs") / f"face-{preset}"
    out = out or Path("weights") / "face" / f"{preset}.safetensors"
    with user_errors(WeightsError, ValueError):
        trainer = FaceTrainer(config, data, run_dir, device=device, init_weights=init_from)
    progress = _training_progress(
        "face/{task.fields[preset]}", "loss {task.fields[loss]:.3f}  psnr {task.fields[psnr]:.2f} dB"
    )
    if not trainer.context.is_main:  # under torchrun only rank 0 reports
        trainer.train()
        trainer.close()
        return
    with progress:
        task = progress.add_task("train", total=steps, completed=trainer.step, preset=preset, loss=0.0, psnr=0.0)
        trainer.on_step = lambda step, metrics: progress.update(
            task, completed=step, loss=metrics["total"], psnr=metrics["psnr"]
        )
        trainer.train()
    console.print("evaluating on validation identities and exporting weights ...")
    card = trainer.export(out)
    console.print(f"wrote {out} ({card['parameters']:,} parameters)")
    console.print_json(data=card["metrics"])
    trainer.close()


@app.command()
def motion(
    data: Annotated[Path, typer.Option(help="Prepared corpus (candor data prepare) at the face model's size.")],
    preset: Annotated[str, typer.Option(help="tiny, base or full (transformer size).")] = "tiny",
    face_weights: Annotated[
        Path | None, typer.Option(help="Face latent weights whose motion space is learned (default: committed tiny).")
    ] = None,
    steps: Annotated[
        int, typer.Option(min=1, help="Total optimisation steps (a resumed run continues to this).")
    ] = 8000,
    batch_size: Annotated[int, typer.Option(min=2)] = 64,
    run_dir: Annotated[Path | None, typer.Option(help="Run folder (latents cache, config, log, state).")] = None,
    out: Annotated[Path | None, typer.Option(help="Where to write the final safetensors (+ .json card).")] = None,
    device: Annotated[str | None, typer.Option(help="cpu, cuda or cuda:N (default: cuda if available).")] = None,
    seed: Annotated[int, typer.Option()] = 0,
    learning_rate: Annotated[float | None, typer.Option(help="Peak learning rate (default 3e-4).")] = None,
    warmup_steps: Annotated[int | None, typer.Option(min=0, help="Linear warm-up steps (default 300).")] = None,
    init_from: Annotated[
        Path | None, typer.Option(help="Fine-tune from these motion weights instead of starting from scratch.")
    ] = None,
    gaze_turns: Annotated[
        float,
        typer.Option(
            min=0.0, max=1.0, help="Share of gaze-labelled windows given a synthetic head turn (default off)."
        ),
    ] = 0.0,
    context_noise: Annotated[
        float,
        typer.Option(min=0.0, help="Largest noise std on the previous window's motion in training (default 0)."),
    ] = 0.0,
) -> None:
    """Train the motion diffusion transformer on motion latents; resumes from RUN_DIR/state.pt if present."""
    from generator.data.gaze_turns import GazeTurnAugmentation
    from generator.training.motion_trainer import MotionTrainConfig, MotionTrainer

    config = MotionTrainConfig(
        preset=preset,
        steps=steps,
        batch_size=batch_size,
        seed=seed,
        gaze_turns=GazeTurnAugmentation(probability=gaze_turns),
        context_noise=context_noise,
    )
    if learning_rate is not None:
        config = dataclasses.replace(config, learning_rate=learning_rate)
    if warmup_steps is not None:
        config = dataclasses.replace(config, warmup_steps=warmup_steps)
    run_dir = run_dir or Path("runs") / f"motion-{preset}"
    out = out or Path("weights") / "motion" / f"{preset}.safetensors"
    progress = _training_progress("motion/{task.fields[preset]} {task.fields[stage]}", "loss {task.fields[loss]:.4f}")
    with progress:
        extract = progress.add_task("extract", total=None, preset=preset, stage="extracting latents", loss=0.0)
        with user_errors(WeightsError, ValueError):
            trainer = MotionTrainer(
                config,
                data,
                run_dir,
                face_weights=face_weights,
                device=device,
                init_weights=init_from,
                on_extract=lambda done, total: progress.update(extract, completed=done, total=total),
            )
        progress.remove_task(extract)
        task = progress.add_task("train", total=steps, completed=trainer.step, preset=preset, stage="", loss=0.0)
        if trainer.context.is_main:
            trainer.on_step = lambda step, metrics: progress.update(task, completed=step, loss=metrics["total"])
        trainer.train()
    if trainer.context.is_main:
        console.print("validating on held-out identities and exporting weights ...")
        card = trainer.export(out)
        console.print(f"wrote {out} ({card['parameters']:,} parameters)")
        console.print_json(data=card["metrics"])
    trainer.close()


@app.command()
def watermark(
    sources: Annotated[list[Path], typer.Option("--source", help="Folders or files of videos/images (repeat).")],
    steps: Annotated[int, typer.Option(min=1)] = 3000,
    batch_size: Annotated[int, typer.Option(min=2)] = 12,
    frames_cache: Annotated[Path | None, typer.Option(help="Cache of sampled training crops (.npy).")] = None,
    run_dir: Annotated[Path, typer.Option(help="Run folder (log, resumable state).")] = Path("runs/watermark"),
    out: Annotated[Path, typer.Option(help="Final weights.")] = Path("weights/watermark/default.safetensors"),
    target_psnr: Annotated[float, typer.Option(help="Strength is calibrated to this mean PSNR (dB).")] = 44.0,
    seed: Annotated[int, typer.Option()] = 0,
) -> None:
    """Train the watermark embedder/extractor through the attack layer; resumes from RUN_DIR/state.pt."""
    import numpy as np

    from watermark.config import WatermarkModelConfig
    from watermark.data import build_frame_bank
    from watermark.payload import PayloadCodec
    from watermark.training import WatermarkTrainConfig, WatermarkTrainer

    with user_errors():
        if frames_cache is not None and frames_cache.is_file():
            frames = np.load(frames_cache)
        else:
            console.print("sampling training crops ...")
            frames = build_frame_bank(sources, size=256, seed=seed)
            if frames_cache is not None:
                frames_cache.parent.mkdir(parents=True, exist_ok=True)
                np.save(frames_cache, frames)
    config = WatermarkTrainConfig(steps=steps, batch_size=batch_size, seed=seed, target_psnr=target_psnr)
    model_config = WatermarkModelConfig(n_bits=PayloadCodec().n_bits)
    trainer = WatermarkTrainer(config, model_config, frames, run_dir)
    progress = _training_progress("watermark", "bit acc {task.fields[accuracy]:.3f}  psnr {task.fields[psnr]:.1f} dB")
    with progress:
        task = progress.add_task("train", total=steps, completed=trainer.step, accuracy=0.0, psnr=0.0)
        trainer.on_step = lambda step, metrics: progress.update(
            task, completed=step, accuracy=metrics["bit_accuracy"], psnr=metrics["psnr"]
        )
        trainer.train()
    card = trainer.export(out, {"sources": [str(s) for s in sources], "frames": int(len(frames)), "crop_size": 256})
    console.print(f"wrote {out} (strength {card['config']['strength']}, {card['parameters']:,} parameters)")


@app.command()
def gaze(
    data: Annotated[Path, typer.Option(help="Prepared corpus (candor data prepare) at the face model's size.")],
    steps: Annotated[
        int, typer.Option(min=1, help="Total optimisation steps (a resumed run continues to this).")
    ] = 2000,
    batch_size: Annotated[int, typer.Option(min=2)] = 128,
    run_dir: Annotated[Path, typer.Option(help="Run folder (eye patch cache, resumable state).")] = Path("runs/gaze"),
    out: Annotated[Path, typer.Option(help="Final weights.")] = Path("weights/gaze/default.safetensors"),
    device: Annotated[str | None, typer.Option(help="cpu, cuda or cuda:N (default: cuda if available).")] = None,
    seed: Annotated[int, typer.Option()] = 0,
) -> None:
    """Train the eye-region gaze network (self-supervised, synthetic iris shifts); resumes from RUN_DIR."""
    from generator.training.gaze_trainer import GazeTrainConfig, GazeTrainer

    config = GazeTrainConfig(steps=steps, batch_size=batch_size, seed=seed)
    progress = _training_progress("gaze {task.fields[stage]}", "loss {task.fields[loss]:.4f}")
    with progress:
        extract = progress.add_task("extract", total=None, stage="finding eyes", loss=0.0)
        with user_errors():
            trainer = GazeTrainer(
                config,
                data,
                run_dir,
                device=device,
                on_extract=lambda done, total: progress.update(extract, completed=done, total=total),
            )
        progress.remove_task(extract)
        task = progress.add_task("train", total=steps, completed=trainer.step, stage="", loss=0.0)
        trainer.on_step = lambda step, metrics: progress.update(task, completed=step, loss=metrics["total"])
        trainer.train()
    console.print("evaluating on held-out identities and exporting weights ...")
    card = trainer.export(out)
    console.print(f"wrote {out} ({card['parameters']:,} parameters)")
    console.print_json(data=card["metrics"])
