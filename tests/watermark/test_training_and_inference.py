from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from media.errors import UnreadableMediaError
from media.samples import animate_portrait, sample_portrait
from media.weights import read_card
from watermark.config import WatermarkModelConfig
from watermark.inference import VideoWatermarker
from watermark.models.watermarker import Watermarker
from watermark.payload import new_generation_id
from watermark.training import WatermarkTrainConfig, WatermarkTrainer, psnr

SMALL = WatermarkModelConfig(n_bits=191, work_size=32, embedder_width=8, extractor_width=8, message_dim=16)


@pytest.fixture(scope="module")
def frames() -> np.ndarray:
    return animate_portrait(sample_portrait(), 24, size=64, seed=3)


def test_trainer_logs_resumes_and_exports_calibrated_strength(tmp_path, frames):
    config = WatermarkTrainConfig(steps=2, batch_size=4, clean_steps=1, log_every=1, target_psnr=40.0)
    trainer = WatermarkTrainer(config, SMALL, frames, tmp_path / "run")
    trainer.train()
    records = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2] and records[0]["attacks"] == "none"
    resumed = WatermarkTrainer(dataclasses.replace(config, steps=3), SMALL, frames, tmp_path / "run")
    assert resumed.step == 2
    resumed.train()
    card = resumed.export(tmp_path / "wm.safetensors", {"frames": len(frames)})
    assert (
        card["steps"] == 3
        and read_card(tmp_path / "wm.safetensors")["config"]["strength"] == card["config"]["strength"]
    )
    model = Watermarker(WatermarkModelConfig(**card["config"]))
    model.load_state_dict(resumed.model.state_dict())
    batch = torch.from_numpy(resumed.val_frames).permute(0, 3, 1, 2).float() / 255
    with torch.no_grad():
        achieved = psnr(model.embed(batch, torch.randint(0, 2, (len(batch), 191)).float()), batch).mean()
    assert float(achieved) == pytest.approx(40.0, abs=1.0)


def test_inference_embeds_every_frame_and_reports_spans(frames):
    torch.manual_seed(0)
    watermarker = VideoWatermarker(Watermarker(SMALL))
    generation_id = new_generation_id()
    marked = watermarker.embed(frames, generation_id)
    assert marked.shape == frames.shape and marked.dtype == np.uint8
    assert 0 < np.abs(marked.astype(int) - frames).mean() < 5
    report = watermarker.read_frames(marked, fps=12.0, span_seconds=1.0)
    assert report.frames == 24 and len(report.spans) == 2 and len(report.bit_confidence) == 191
    # Detected or not, a reported ID is always the embedded one.
    assert report.id in (None, generation_id)


def test_unreadable_inputs_are_clear_errors(tmp_path):
    watermarker = VideoWatermarker(Watermarker(SMALL))
    (tmp_path / "broken.mp4").write_bytes(b"not a video")
    with pytest.raises(UnreadableMediaError, match="broken.mp4"):
        watermarker.read_file(tmp_path / "broken.mp4")
    with pytest.raises(UnreadableMediaError, match="no frame"):
        watermarker.statistics([])
