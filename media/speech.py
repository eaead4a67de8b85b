"""Real synthetic speech from espeak-ng (bundled by the `espeakng-loader` wheel): demo and test audio.

espeak-ng keeps global state, so calls are serialised with a lock.
"""

from __future__ import annotations

import ctypes
import os
import threading

import numpy as np
import soxr

from media.audio import SPEECH_SAMPLE_RATE, AudioTrack
from media.errors import AudioError

_SYNCHRONOUS = 2  # espeak_AUDIO_OUTPUT: synthesise into the callback, return when done
_POSITION_CHARACTER = 1
_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)
_lock = threading.Lock()
_engine: tuple[ctypes.CDLL, int] | None = None


def _load() -> tuple[ctypes.CDLL, int]:
    global _engine
    if _engine is None:
        import espeakng_loader

        library = ctypes.CDLL(espeakng_loader.get_library_path())
        library.espeak_Initialize.restype = ctypes.c_int
        library.espeak_Synth.argtypes = [
            ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
            ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p,
        ]  # fmt: skip
        data_parent = os.path.dirname(espeakng_loader.get_data_path())
        rate = library.espeak_Initialize(_SYNCHRONOUS, 0, data_parent.encode(), 0)
        if rate <= 0:
            raise AudioError("espeak-ng failed to initialise")
        _engine = (library, rate)
    return _engine


def synthesize_speech(text: str, *, voice: str = "en", words_per_minute: int = 160) -> AudioTrack:
    """`text` spoken by espeak-ng's `voice` (a language code such as en, fr, de, zh, ja), 16 kHz mono."""
    if not text.strip():
        raise AudioError("no text to speak")
    with _lock:
        library, rate = _load()
        chunks: list[np.ndarray] = []

        @_CALLBACK
        def collect(wav, count, _events):
            if count > 0:
                chunks.append(np.ctypeslib.as_array(wav, shape=(count,)).copy())
            return 0

        library.espeak_SetSynthCallback(collect)
        if library.espeak_SetVoiceByName(voice.encode()) != 0:
            raise AudioError(f"espeak-ng has no voice {voice!r}")
        library.espeak_SetParameter(1, words_per_minute, 0)  # espeakRATE
        encoded = text.encode()
        if library.espeak_Synth(encoded, len(encoded) + 1, 0, _POSITION_CHARACTER, 0, 0, None, None) != 0:
            raise AudioError("espeak-ng could not synthesise the text")
        library.espeak_Synchronize()
    if not chunks:
        raise AudioError("espeak-ng produced no audio")
    samples = np.concatenate(chunks).astype(np.float32) / 32768.0
    return AudioTrack(soxr.resample(samples, rate, SPEECH_SAMPLE_RATE).astype(np.float32), SPEECH_SAMPLE_RATE)
