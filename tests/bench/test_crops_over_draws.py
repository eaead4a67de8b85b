"""The crop rows are counted over several draws of clips, each with its own clips' and IDs' seeds."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from bench import watermark_robustness
from bench.watermark_robustness import CROP_ROWS, crops_markdown, crops_over_draws, draw_seeds

CENTRED, OFF_CENTRE = CROP_ROWS


class CentredCropsOnly:
    """A watermarker whose mark reads the ID it embedded after a centred crop (75 % of the frame's side),
    a wrong ID after any other crop of a clip whose first pixel is odd, and nothing otherwise."""

    def __init__(self) -> None:
        self.embedded: list[str] = []

    def embed(self, frames: np.ndarray, generation_id: str) -> np.ndarray:
        self.embedded.append(generation_id)
        return frames

    def read_frames(self, frames: np.ndarray, *, fps: float) -> SimpleNamespace:
        if frames.shape[1] == 48 * 3 // 4:
            return SimpleNamespace(detected=True, id=self.embedded[-1], p_value=1e-20)
        if frames[0, 0, 0, 0] % 2:
            return SimpleNamespace(detected=True, id="0" * 16, p_value=1e-9)
        return SimpleNamespace(detected=False, id=None, p_value=0.5)


@pytest.fixture
def seeds(monkeypatch) -> list[list[int]]:
    """Each draw's clips: two generated 48 px clips per seed; the list records the seeds asked for."""
    asked: list[list[int]] = []

    def clips(size: int, count: int, rng: np.random.Generator) -> list[np.ndarray]:
        asked.append(rng.bit_generator.seed_seq.entropy)
        return [rng.integers(0, 256, size=(4, size, size, 3), dtype=np.uint8) for _ in range(count)]

    monkeypatch.setattr(watermark_robustness, "load_clips", clips)
    monkeypatch.setattr(watermark_robustness, "encode_video", lambda frames, crf=28: frames)
    return asked


def test_every_draw_has_its_own_seeds_and_the_bench_draw_is_its_own():
    assert draw_seeds(256, 0) == ([0, 256], [1, 256])
    clip_seeds = [draw_seeds(256, draw)[0] for draw in range(4)] + [draw_seeds(512, draw)[0] for draw in range(4)]
    id_seeds = [draw_seeds(256, draw)[1] for draw in range(4)] + [draw_seeds(512, draw)[1] for draw in range(4)]
    assert len({tuple(seed) for seed in clip_seeds + id_seeds}) == 16


def test_the_crop_rows_are_counted_over_every_draw(seeds):
    watermarker = CentredCropsOnly()
    crops = crops_over_draws(watermarker, 48, 2, 3)
    assert seeds == [[0, 48], [101, 48], [102, 48]]
    assert len(watermarker.embedded) == 6 and len(set(watermarker.embedded)) == 6
    assert crops["clips"] == 6 and crops["draws"][1] == [[101, 48], [201, 48]]
    centred = crops["rows"][CENTRED]
    assert {key: centred[key] for key in ("exact", "rate", "per_draw", "wrong_id")} == {
        "exact": 6,
        "rate": 1.0,
        "per_draw": [2, 2, 2],
        "wrong_id": 0,
    }
    assert centred["per_clip"] == [[[1e-20, 1], [1e-20, 1]]] * 3
    off_centre = crops["rows"][OFF_CENTRE]
    assert off_centre["exact"] == 0 and off_centre["per_draw"] == [0, 0, 0]
    assert 0 < off_centre["wrong_id"] <= 6  # the clips whose first pixel is odd
    text = crops_markdown(crops)
    assert f"{CENTRED}: 6/6 (100%; 2 / 2 / 2), wrong ID 0" in text and "clip seeds [101, 48], [102, 48]" in text


def test_the_bench_draw_read_in_the_same_run_is_not_marked_again(seeds):
    watermarker = CentredCropsOnly()
    bench_draw = {CENTRED: [[1e-20, 1], [1e-3, 0], [1e-9, -1]], OFF_CENTRE: [[1e-12, 1], [1e-15, 1], [0.5, 0]]}
    crops = crops_over_draws(watermarker, 48, 3, 2, bench_draw)
    assert seeds == [[101, 48]] and len(watermarker.embedded) == 3
    assert crops["rows"][CENTRED]["per_draw"] == [1, 3] and crops["rows"][CENTRED]["wrong_id"] == 1
    assert crops["rows"][OFF_CENTRE]["per_draw"] == [2, 0]
    assert crops["rows"][OFF_CENTRE]["per_clip"][0] == bench_draw[OFF_CENTRE]
