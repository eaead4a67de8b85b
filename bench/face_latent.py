"""Face latent space benchmark: size and cost per preset; quality of the committed weights.

    python -m bench.face_latent [--data data/prepared-128] [--pairs 512] [--device cpu]

Writes bench/results/face_latent.{json,md,png}. Quality is measured on validation identities (never
seen in training; the split is recorded in the weights card) of a prepared corpus made from
../shared/data/videos with `candor data prepare ... --size 128`.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from bench.common import RESULTS_DIR, device_description, markdown_table, write_results
from generator.face.config import PRESETS
from generator.face.evaluation import evaluate_face_model
from generator.face.model import FaceLatentModel
from generator.face.pretrained import default_face_weights, load_face_model
from media.corpus import PreparedCorpus


def preset_costs(device: str) -> list[dict]:
    rows = []
    for name, config in PRESETS.items():
        model = FaceLatentModel(config).eval().to(device)
        image = torch.rand(1, 3, config.image_size, config.image_size, device=device)
        with torch.inference_mode():
            with FlopCounterMode(display=False) as encode_counter:
                latents = model.encode(image)
            with FlopCounterMode(display=False) as decode_counter:
                model.decode(latents, latents.pose, latents.dynamics)
            decode_ms = _time_ms(model.decode, (latents, latents.pose, latents.dynamics), device)
        rows.append(
            {
                "preset": name,
                "image_size": config.image_size,
                "parameters_m": round(sum(p.numel() for p in model.parameters()) / 1e6, 2),
                # FlopCounterMode counts multiply-adds as two FLOPs.
                "encode_gflops": round(encode_counter.get_total_flops() / 1e9, 2),
                "decode_gflops_per_frame": round(decode_counter.get_total_flops() / 1e9, 2),
                "decode_ms_per_frame": round(decode_ms, 1),
            }
        )
    return rows


def _time_ms(function, args: tuple, device: str, repeats: int = 5) -> float:
    function(*args)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        function(*args)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / repeats * 1000


def plot(metrics: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(8, 3.2))
    axes[0].bar(
        ["copy source", "Candor tiny"], [metrics["copy_source_psnr"], metrics["recon_psnr"]], color=["grey", "C0"]
    )
    axes[0].set_ylabel("PSNR (dB)")
    axes[1].bar(
        ["copy source", "Candor tiny"], [metrics["copy_source_ssim"], metrics["recon_ssim"]], color=["grey", "C0"]
    )
    axes[1].set_ylabel("SSIM")
    figure.suptitle("Self-reconstruction on held-out identities")
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("data/prepared-128"))
    parser.add_argument("--weights", type=Path, default=default_face_weights("tiny"))
    parser.add_argument("--pairs", type=int, default=512)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    costs = preset_costs(args.device)
    model, card = load_face_model(args.weights, device=args.device)
    corpus = PreparedCorpus.load(args.data).subset(set(card["data"]["val_identities"]))
    metrics = evaluate_face_model(model, corpus, n_pairs=args.pairs, device=args.device)
    results = {
        "device": device_description(args.device),
        "weights": str(args.weights),
        "weights_sha256": card["sha256"],
        "training": {"steps": card["steps"], "seconds": card["training_seconds"], "device": card["device"]},
        "presets": costs,
        "validation": metrics,
    }
    markdown = (
        f"# Face latent space\n\nDevice: {results['device']}\n\n## Presets\n\n"
        + markdown_table(list(costs[0]), [list(row.values()) for row in costs])
        + f"\n## Committed weights ({args.weights.name}, {card['steps']} steps, {card['device']})\n\n"
        + f"Validation identities: {', '.join(card['data']['val_identities'])} ({metrics['pairs']} pairs)\n\n"
        + markdown_table(["metric", "value"], [[k, v] for k, v in metrics.items()])
    )
    json_path, md_path = write_results("face_latent", results, markdown)
    plot(metrics, RESULTS_DIR / "face_latent.png")
    print(markdown)
    print(f"wrote {json_path}, {md_path}")


if __name__ == "__main__":
    main()
