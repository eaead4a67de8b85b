from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch

from generator.face import losses
from generator.face.config import face_preset
from generator.face.model import FaceLatentModel
from generator.training.face_trainer import (
    FaceTrainConfig,
    FaceTrainer,
    GazeSupervision,
    LossWeights,
    ReenactmentStep,
    generator_losses,
)
from media.samples import animate_portrait, sample_portrait
from media.weights import WeightsError, load_weights, read_card, save_weights
from tests.conftest import make_prepared_corpus

REPO = Path(__file__).resolve().parents[2]


def test_a_few_steps_reduce_the_loss():
    """Model + losses are learnable: 30 Adam steps on one fixed batch lower the total loss clearly."""
    torch.manual_seed(0)
    frames = torch.from_numpy(animate_portrait(sample_portrait(), 8, size=128, seed=0)).permute(0, 3, 1, 2) / 255
    source, driving = frames[:4], frames[4:]
    step = ReenactmentStep(FaceLatentModel(face_preset("tiny")))
    optimizer = torch.optim.Adam(step.parameters(), lr=1e-3)
    labels = torch.zeros(4, dtype=torch.long)
    history = []
    for index in range(30):
        out = step(source, driving, driving, aux_batch=2 if index % 2 == 0 else 0)
        total = generator_losses(out, driving, labels, None, None, LossWeights())["total"]
        optimizer.zero_grad()
        total.backward()
        optimizer.step()
        history.append(float(losses.l1(out["reenacted"].detach(), driving)))
    assert history[-1] < 0.6 * history[0]


@pytest.fixture(scope="module")
def tiny_corpus(tmp_path_factory, sample_clip) -> Path:
    return make_prepared_corpus(tmp_path_factory.mktemp("face-corpus"), sample_clip, ("a", "b", "c"), 128)


def test_trainer_resumes_and_exports_a_card(tmp_path, tiny_corpus):
    config = FaceTrainConfig(
        steps=2,
        batch_size=2,
        aux_every=1,
        aux_batch=2,
        adversarial_start=1,
        log_every=1,
        eval_pairs=4,
        val_fraction=0.34,
    )
    trainer = FaceTrainer(config, tiny_corpus, tmp_path / "run", device="cpu")
    trainer.train()
    assert (tmp_path / "run" / "state.pt").is_file()
    records = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2] and "discriminator" in records[-1]

    resumed = FaceTrainer(dataclasses.replace(config, steps=3), tiny_corpus, tmp_path / "run", device="cpu")
    assert resumed.step == 2
    resumed.train()
    card = resumed.export(tmp_path / "face.safetensors")
    assert card["steps"] == 3 and card["preset"] == "tiny"
    assert {"recon_psnr", "copy_source_psnr", "cross_identity_cosine", "cross_pose_error_deg"} <= set(card["metrics"])
    assert set(card["data"]["val_identities"]).isdisjoint(
        json.loads((tmp_path / "run" / "config.json").read_text())["train_identities"]
    )


def test_fine_tuning_with_gaze_supervision_starts_from_given_weights(tmp_path, tiny_corpus):
    """--init-from loads the weights (and the card records them); with the gaze weight on, the step
    redirects the drivers' irises and logs the gaze term."""
    start = FaceLatentModel(face_preset("tiny"))
    init = save_weights(start, tmp_path / "start.safetensors", {"preset": "tiny"})
    config = FaceTrainConfig(
        steps=1, batch_size=2, aux_every=2, log_every=1, eval_pairs=4, val_fraction=0.34, gaze=GazeSupervision(1.0)
    )
    start_path = tmp_path / "start.safetensors"
    trainer = FaceTrainer(config, tiny_corpus, tmp_path / "run", device="cpu", init_weights=start_path)
    loaded = trainer.model.state_dict().values()
    assert all(torch.equal(a, b) for a, b in zip(start.state_dict().values(), loaded, strict=True))
    trainer.train()
    record = json.loads((tmp_path / "run" / "log.jsonl").read_text().splitlines()[0])
    assert "gaze" in record and record["gaze"] >= 0
    card = trainer.export(tmp_path / "face.safetensors")
    assert card["initialised_from_sha256"] == init["sha256"] and card["training"]["gaze"]["weight"] == 1.0
    assert "training_segments" not in card
    # Resumed with a stronger gaze weight and no --init-from: the card still names the starting weights
    # and tells the two stretches apart.
    stronger = dataclasses.replace(config, steps=2, gaze=GazeSupervision(2.0))
    resumed = FaceTrainer(stronger, tiny_corpus, tmp_path / "run", device="cpu")
    resumed.train()
    card = resumed.export(tmp_path / "face.safetensors")
    assert card["initialised_from_sha256"] == init["sha256"] and card["training"]["gaze"]["weight"] == 2.0
    segments = card["training_segments"]
    assert [(s["from_step"], s["training"]["gaze"]["weight"]) for s in segments] == [(0, 1.0), (1, 2.0)]


def test_trainer_rejects_crops_of_the_wrong_size(tmp_path, tiny_corpus):
    with pytest.raises(ValueError, match="needs 256px"):
        FaceTrainer(FaceTrainConfig(preset="base"), tiny_corpus, tmp_path / "run", device="cpu")


def test_weights_round_trip_and_hash_check(tmp_path):
    model = FaceLatentModel(face_preset("tiny"))
    save_weights(model, tmp_path / "w.safetensors", {"preset": "tiny"})
    fresh = FaceLatentModel(face_preset("tiny"))
    card = load_weights(fresh, tmp_path / "w.safetensors")
    assert card["preset"] == "tiny" and card["parameters"] == sum(p.numel() for p in model.parameters())
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), fresh.state_dict().values(), strict=True))
    data = bytearray((tmp_path / "w.safetensors").read_bytes())
    data[-1] ^= 0xFF
    (tmp_path / "w.safetensors").write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="sha256"):
        load_weights(fresh, tmp_path / "w.safetensors")


def test_committed_tiny_weights_load_offline(monkeypatch):
    """The default weights are in the repository and load with no network (sockets are disabled)."""
    import socket

    def no_network(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket, "socket", no_network)
    path = REPO / "weights" / "face" / "tiny.safetensors"
    card = read_card(path)
    model = FaceLatentModel(face_preset(card["preset"]))
    load_weights(model, path)
    assert card["metrics"]["recon_psnr"] > card["metrics"]["copy_source_psnr"]
