"""`candor face ...`: look at what the face latent space does."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.console import Console

from service.cli.errors import user_errors

app = typer.Typer(help="Inspect the face latent space (encode, reenact).", no_args_is_help=True)
console = Console()


@app.command()
def grid(
    out: Annotated[Path, typer.Argument(help="PNG to write.")],
    source: Annotated[list[Path] | None, typer.Option(help="Source portrait(s); repeat the option.")] = None,
    driver: Annotated[list[Path] | None, typer.Option(help="Driving image(s), one per source.")] = None,
    data: Annotated[Path | None, typer.Option(help="Prepared corpus: sample cross-identity rows from it.")] = None,
    validation_only: Annotated[bool, typer.Option(help="With --data: only identities held out in training.")] = True,
    rows: Annotated[int, typer.Option(min=1, max=32)] = 6,
    weights: Annotated[Path | None, typer.Option(help="Face weights (default: the committed tiny).")] = None,
    seed: Annotated[int, typer.Option()] = 0,
) -> None:
    """Write a PNG grid: source | driver | source re-posed and re-animated by the driver."""
    from generator.face.pretrained import load_face_model
    from generator.face.visualize import reenactment_grid
    from media.image import save_image

    with user_errors():
        model, card = load_face_model(weights)
        size = card["config"]["image_size"]
        if source or driver:
            sources, drivers = _crops_from_images(source or [], driver or [], size)
        elif data is not None:
            sources, drivers = _crops_from_corpus(data, card, rows, validation_only, seed)
        else:
            raise typer.BadParameter("give --source/--driver images or --data PREPARED_DIR")
        save_image(out, reenactment_grid(model, sources, drivers))
    console.print(f"wrote {out} ({len(sources)} rows: source | driver | result)")


def _crops_from_images(sources: list[Path], drivers: list[Path], size: int) -> tuple[np.ndarray, np.ndarray]:
    from media.faces import FaceDetector, crop_face
    from media.image import load_image

    if len(sources) != len(drivers):
        raise typer.BadParameter("give one --driver per --source")
    detector = FaceDetector()

    def crop(path: Path) -> np.ndarray:
        return crop_face(load_image(path), size=size, detector=detector, source=str(path))[0]

    return np.stack([crop(p) for p in sources]), np.stack([crop(p) for p in drivers])


def _crops_from_corpus(data: Path, card: dict, rows: int, validation_only: bool, seed: int):
    from media.corpus import PreparedCorpus

    corpus = PreparedCorpus.load(data)
    if validation_only:
        corpus = corpus.subset(set(card["data"]["val_identities"]))
    rng = np.random.default_rng(seed)
    sources, drivers = [], []
    for _ in range(rows):
        first = corpus.clips[rng.integers(len(corpus.clips))]
        others = [c for c in corpus.clips if c.identity != first.identity] or [first]
        second = others[rng.integers(len(others))]
        first_frames, second_frames = first.load_frames(), second.load_frames()
        sources.append(first_frames[rng.integers(len(first_frames))])
        drivers.append(second_frames[rng.integers(len(second_frames))])
    return np.stack(sources), np.stack(drivers)


@app.command()
def encode(
    image: Annotated[Path, typer.Argument(help="Portrait photo.")],
    weights: Annotated[Path | None, typer.Option(help="Face weights (default: the committed tiny).")] = None,
) -> None:
    """Print the pose (degrees, translation, scale) and code sizes of a portrait as JSON."""
    import math

    import torch

    from generator.data.frames import to_tensor
    from generator.face.pretrained import load_face_model
    from media.faces import crop_face
    from media.image import load_image

    with user_errors():
        model, card = load_face_model(weights)
        crop, box = crop_face(load_image(image), size=card["config"]["image_size"], source=str(image))
        with torch.no_grad():
            latents = model.encode(to_tensor(crop)[None])
    pose = latents.pose[0].tolist()
    report = {
        "image": str(image),
        "crop_box": {"center_x": box.center_x, "center_y": box.center_y, "side": box.side},
        "pose": {
            "yaw_deg": math.degrees(pose[0]),
            "pitch_deg": math.degrees(pose[1]),
            "roll_deg": math.degrees(pose[2]),
            "tx": pose[3],
            "ty": pose[4],
            "scale": math.exp(pose[5]),
        },
        "z_id_dim": latents.identity.shape[-1],
        "z_dyn_dim": latents.dynamics.shape[-1],
        "appearance_volume": list(latents.appearance.shape[1:]),
    }
    console.print_json(json.dumps(report))
