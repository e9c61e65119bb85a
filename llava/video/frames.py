"""Read the frames Video-LLaVA sees: `num_frames` frames spread uniformly over the whole video.

Video-LLaVA's `load_and_transform_video` (decord / OpenCV backends) takes the frame indices
`np.linspace(0, n - 1, num_frames, dtype=int)` of an `n`-frame video. The same indices are read here with PyAV (the
`video` extra's decoder, always available) or decord (optional, faster seeking on long videos).

Every failure raises `VideoReadError` naming the file: a missing or undecodable file, a file without a video stream,
and a video with fewer frames than asked (repeating frames would silently feed the temporal attention a different
clip than the model was trained on). Callers that process many videos catch it per video and carry on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np

Backend = Literal["pyav", "decord"]
BACKENDS: tuple[Backend, ...] = ("pyav", "decord")


class VideoReadError(RuntimeError):
    """A video could not be turned into the requested frames; the message names the file and the problem."""


def uniform_frame_indices(total: int, num_frames: int) -> list[int]:
    """Video-LLaVA's indices: `np.linspace(0, total - 1, num_frames)` truncated to ints (first and last included)."""
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")
    return np.linspace(0, total - 1, num_frames, dtype=int).tolist()


def read_video_frames(path: str | Path, num_frames: int = 8, backend: Backend = "pyav") -> np.ndarray:
    """(num_frames, H, W, 3) uint8 RGB frames at `uniform_frame_indices` of the video at `path`."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise VideoReadError(f"{path}: no such video file.")
    if backend == "pyav":
        return _read_pyav(path, num_frames)
    if backend == "decord":
        return _read_decord(path, num_frames)
    raise ValueError(f"Unknown video backend {backend!r}; use one of {BACKENDS}.")


def _too_short(path: Path, total: int, num_frames: int) -> VideoReadError:
    return VideoReadError(
        f"{path}: the video has {total} frame(s), fewer than the {num_frames} the model takes. Fix: drop this "
        "video from the question file or re-encode it; frames are never repeated to fill the clip."
    )


def _read_pyav(path: Path, num_frames: int) -> np.ndarray:
    import av

    def decode(wanted: list[int] | None) -> tuple[list[np.ndarray], int]:
        """Frames at `wanted` (sorted, may repeat), and how many frames the stream decoded in total."""
        try:
            with av.open(str(path)) as container:
                if not container.streams.video:
                    raise VideoReadError(f"{path}: the file has no video stream.")
                picked: list[np.ndarray] = []
                count = 0
                targets = iter(wanted or [])
                target = next(targets, None)
                for count, frame in enumerate(container.decode(video=0), start=1):
                    index = count - 1
                    if target is not None and index == target:
                        array = frame.to_ndarray(format="rgb24")
                        while target == index:  # repeated indices only occur for videos shorter than asked
                            picked.append(array)
                            target = next(targets, None)
                    elif target is None and wanted is not None:
                        break
                return picked, count
        except av.error.FFmpegError as error:
            raise VideoReadError(f"{path}: cannot decode the video ({error}).") from error

    total = video_frame_count(path)
    if total is None:
        _, total = decode(None)
    if total < num_frames:
        raise _too_short(path, total, num_frames)
    frames, decoded = decode(uniform_frame_indices(total, num_frames))
    if len(frames) < num_frames:
        # The container's frame count was too high (common for variable-frame-rate files): count, then re-pick.
        if decoded < num_frames:
            raise _too_short(path, decoded, num_frames)
        frames, _ = decode(uniform_frame_indices(decoded, num_frames))
    return np.stack(frames)


def video_frame_count(path: Path) -> int | None:
    """The stream's frame count from the container header (no decoding), or None when the container lacks it."""
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise VideoReadError(f"{path}: the file has no video stream.")
            frames = container.streams.video[0].frames
    except av.error.FFmpegError as error:
        raise VideoReadError(f"{path}: cannot open the video ({error}).") from error
    return frames if frames > 0 else None


def _read_decord(path: Path, num_frames: int) -> np.ndarray:
    try:
        from decord import VideoReader, cpu
    except ImportError as error:
        raise ImportError("backend='decord' needs decord: `pip install decord` (or use backend='pyav').") from error
    try:
        reader = VideoReader(str(path), ctx=cpu(0))
    except Exception as error:  # decord raises its own DECORDError (not exported as a stable type)
        raise VideoReadError(f"{path}: cannot decode the video with decord ({error}).") from error
    total = len(reader)
    if total < num_frames:
        raise _too_short(path, total, num_frames)
    return reader.get_batch(uniform_frame_indices(total, num_frames)).asnumpy()
