"""WAV in and out: encoding an utterance for upload, decoding a WAV stream as it arrives.

Why a decoder of our own: the standard library's ``wave`` reads a whole,
seekable file, and speech arrives as a stream (espeak-ng's stdout, a speech
server's chunked answer) whose header says "size unknown" (0xFFFFFFFF or
0x7FFFFFFF); the first samples must be played before the last ones arrive.
It reads RIFF/WAVE, 16-bit PCM, mono or stereo (averaged to mono), and
refuses anything else as garbage.
"""
from __future__ import annotations

import io
import struct
import wave

import numpy as np

from bots.speech.exceptions import ProviderError

# A header longer than this without a data chunk is not speech.
MAX_HEADER_BYTES = 64 * 1024
WAVE_FORMAT_PCM = 1
WAVE_FORMAT_EXTENSIBLE = 0xFFFE


def wav_encode(samples: np.ndarray, rate: int) -> bytes:
    """int16 mono ``samples`` at ``rate`` as a complete WAV file."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(np.ascontiguousarray(samples, dtype="<i2").tobytes())
    return buffer.getvalue()


class WavStreamDecoder:
    """Feed it bytes as they come; it returns the int16 mono samples they complete."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._in_data = False
        self.sample_rate: int | None = None
        self.channels = 1

    def feed(self, data: bytes) -> np.ndarray:
        self._buffer += data
        if not self._in_data:
            self._read_header()
            if not self._in_data:
                return np.zeros(0, dtype=np.int16)
        frame_bytes = 2 * self.channels
        usable = len(self._buffer) - len(self._buffer) % frame_bytes
        if not usable:
            return np.zeros(0, dtype=np.int16)
        samples = np.frombuffer(bytes(self._buffer[:usable]), dtype="<i2").astype(np.int16)
        del self._buffer[:usable]
        if self.channels > 1:
            samples = samples.reshape(-1, self.channels).mean(axis=1).astype(np.int16)
        return samples

    def finish(self) -> None:
        """The stream ended: garbage if no header came (a trailing odd byte is dropped)."""
        if not self._in_data:
            raise ProviderError("the answer is not WAV audio")

    def _read_header(self) -> None:
        buffer = self._buffer
        if len(buffer) >= 12 and (buffer[:4] != b"RIFF" or buffer[8:12] != b"WAVE"):
            raise ProviderError("the answer is not WAV audio")
        offset = 12
        while len(buffer) >= offset + 8:
            chunk_id = bytes(buffer[offset:offset + 4])
            (size,) = struct.unpack_from("<I", buffer, offset + 4)
            if chunk_id == b"data":
                if self.sample_rate is None:
                    raise ProviderError("the WAV answer has no format chunk before its data")
                del buffer[:offset + 8]
                self._in_data = True
                return
            if len(buffer) < offset + 8 + size:
                break
            if chunk_id == b"fmt ":
                self._read_format(bytes(buffer[offset + 8:offset + 8 + size]))
            offset += 8 + size + (size & 1)
        if len(buffer) > MAX_HEADER_BYTES:
            raise ProviderError("the WAV answer has no data chunk")

    def _read_format(self, chunk: bytes) -> None:
        if len(chunk) < 16:
            raise ProviderError("the WAV answer has a malformed format chunk")
        tag, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", chunk)
        if tag not in (WAVE_FORMAT_PCM, WAVE_FORMAT_EXTENSIBLE) or bits != 16:
            raise ProviderError(f"the WAV answer is not 16-bit PCM (format {tag}, {bits} bits)")
        if channels not in (1, 2) or not 8000 <= rate <= 192_000:
            raise ProviderError(f"the WAV answer has {channels} channels at {rate} Hz")
        self.channels = channels
        self.sample_rate = rate
