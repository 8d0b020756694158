"""WAV out for uploads, WAV streams in as they arrive (espeak-ng, speech servers)."""
from __future__ import annotations

import struct

import numpy as np
import pytest

from bots.speech.exceptions import ProviderError
from bots.speech.wav import WavStreamDecoder, wav_encode


def header(*, rate: int = 22_050, channels: int = 1, bits: int = 16, tag: int = 1, size: int = 0x7FFFFFFF) -> bytes:
    fmt = struct.pack("<HHIIHH", tag, channels, rate, rate * channels * bits // 8, channels * bits // 8, bits)
    return b"RIFF" + struct.pack("<I", size) + b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + \
        b"data" + struct.pack("<I", size)


def decode_in_pieces(data: bytes, piece: int) -> tuple[np.ndarray, WavStreamDecoder]:
    decoder = WavStreamDecoder()
    out = [decoder.feed(data[start:start + piece]) for start in range(0, len(data), piece)]
    decoder.finish()
    return np.concatenate(out), decoder


@pytest.mark.parametrize("piece", [1, 7, 4096])
def test_a_wav_decodes_the_same_whatever_pieces_it_arrives_in(piece: int) -> None:
    samples = np.random.default_rng(2).integers(-30_000, 30_000, 5000).astype(np.int16)

    out, decoder = decode_in_pieces(wav_encode(samples, 16_000), piece)

    assert decoder.sample_rate == 16_000
    assert np.array_equal(out, samples)


def test_a_stream_whose_header_says_size_unknown_is_read_to_its_end() -> None:
    samples = np.arange(-500, 500, dtype=np.int16)

    out, decoder = decode_in_pieces(header() + samples.tobytes(), 100)

    assert decoder.sample_rate == 22_050 and np.array_equal(out, samples)


def test_stereo_is_averaged_to_mono() -> None:
    stereo = np.array([[100, 300], [-200, -400]], dtype=np.int16)

    out, _ = decode_in_pieces(header(channels=2) + stereo.tobytes(), 3)

    assert out.tolist() == [200, -300]


def test_a_chunk_before_the_format_is_skipped() -> None:
    samples = np.arange(10, dtype=np.int16)
    data = wav_encode(samples, 8000)
    with_list = data[:12] + b"LIST" + struct.pack("<I", 5) + b"hello\x00" + data[12:]

    out, _ = decode_in_pieces(with_list, 5)

    assert np.array_equal(out, samples)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"<html><body>502 Bad Gateway</body></html>", "not WAV"),
        (b'{"error": {"message": "overloaded"}}', "not WAV"),
        (header(bits=32, tag=3), "not 16-bit PCM"),
        (header(channels=6), "6 channels"),
        (header(rate=1), "at 1 Hz"),
    ],
)
def test_garbage_is_refused(data: bytes, reason: str) -> None:
    with pytest.raises(ProviderError, match=reason):
        WavStreamDecoder().feed(data)


def test_a_stream_that_ends_before_any_header_is_garbage() -> None:
    decoder = WavStreamDecoder()
    decoder.feed(b"RIF")

    with pytest.raises(ProviderError, match="not WAV"):
        decoder.finish()


def test_a_header_that_never_reaches_its_data_is_refused() -> None:
    decoder = WavStreamDecoder()
    decoder.feed(header()[:36])  # RIFF, WAVE, fmt

    with pytest.raises(ProviderError, match="no data chunk"):
        decoder.feed(b"JUNK" + struct.pack("<I", 1 << 30) + b"\x00" * (70 * 1024))
