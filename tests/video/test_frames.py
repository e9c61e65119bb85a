"""Frame sampling (PyAV, decord) and Video-LLaVA's preprocessing, on small videos the tests encode."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from transformers import VideoLlavaImageProcessor

from llava.testing.tiny_video_llava import color_frames, hf_tokenizer, write_video
from llava.video.frames import VideoReadError, read_video_frames, uniform_frame_indices
from llava.video.hf_processing import VideoLlavaHfProcessor
from llava.video.processing import CLIP_MEAN, CLIP_STD, LanguageBindVideoProcessor


@pytest.fixture(scope="module")
def video_20(tmp_path_factory: pytest.TempPathFactory):
    path = tmp_path_factory.mktemp("videos") / "clip.mp4"
    return write_video(path, color_frames(20)), color_frames(20)


def grey_index(frame: np.ndarray) -> int:
    """Which source frame this is: the background grey level (12·i) read from a corner, after lossy coding."""
    return int(round(float(frame[-4:, :4].mean()) / 12))


def test_indices_are_video_llavas_linspace() -> None:
    assert uniform_frame_indices(20, 8) == np.linspace(0, 19, 8, dtype=int).tolist() == [0, 2, 5, 8, 10, 13, 16, 19]
    assert uniform_frame_indices(8, 8) == list(range(8))


@pytest.mark.parametrize("backend", ["pyav", "decord"])
def test_reads_the_uniformly_spaced_frames(video_20, backend: str) -> None:
    if backend == "decord":
        pytest.importorskip("decord")
    path, _ = video_20
    frames = read_video_frames(path, 8, backend=backend)
    assert frames.shape == (8, 96, 128, 3) and frames.dtype == np.uint8
    assert [grey_index(f) for f in frames] == uniform_frame_indices(20, 8)


def test_both_backends_decode_the_same_pixels(video_20) -> None:
    pytest.importorskip("decord")
    path, _ = video_20
    np.testing.assert_array_equal(read_video_frames(path, 8, "pyav"), read_video_frames(path, 8, "decord"))


def test_too_short_video_is_an_error_naming_the_file(tmp_path) -> None:
    path = write_video(tmp_path / "short.mp4", color_frames(5))
    with pytest.raises(VideoReadError, match=r"short\.mp4: the video has 5 frame\(s\), fewer than the 8"):
        read_video_frames(path, 8)


@pytest.mark.parametrize("content", [b"", b"not a video at all" * 10])
def test_unreadable_video_is_an_error_naming_the_file(tmp_path, content: bytes) -> None:
    path = tmp_path / "broken.mp4"
    path.write_bytes(content)
    with pytest.raises(VideoReadError, match="broken.mp4"):
        read_video_frames(path, 8)


def test_missing_video_is_an_error_naming_the_file(tmp_path) -> None:
    with pytest.raises(VideoReadError, match="nowhere.mp4: no such video file"):
        read_video_frames(tmp_path / "nowhere.mp4", 8)


def test_video_transform_normalises_before_resizing_like_the_original() -> None:
    """LanguageBind's decord pipeline: /255 → NormalizeVideo → ShortSideScale(224) (bilinear) → CenterCropVideo(224)."""
    frames = color_frames(8, height=96, width=160)
    clip = torch.from_numpy(frames).permute(3, 0, 1, 2).float() / 255.0
    clip = (clip - torch.tensor(CLIP_MEAN).view(3, 1, 1, 1)) / torch.tensor(CLIP_STD).view(3, 1, 1, 1)
    new_w = int(math.floor(160 / 96 * 224))
    clip = F.interpolate(clip, size=(224, new_w), mode="bilinear", align_corners=False)
    left = int(round((new_w - 224) / 2.0))
    expected = clip[..., :, left : left + 224]
    got = LanguageBindVideoProcessor().transform(frames)
    assert got.shape == (3, 8, 224, 224)
    torch.testing.assert_close(got, expected, rtol=0, atol=0)


def test_video_processor_preprocess_matches_the_original_call(video_20) -> None:
    path, _ = video_20
    processor = LanguageBindVideoProcessor()
    pixels = processor.preprocess(str(path), return_tensors="pt")["pixel_values"]
    assert pixels.shape == (1, 3, 8, 224, 224)
    torch.testing.assert_close(pixels[0], processor.transform(read_video_frames(path, 8)), rtol=0, atol=0)


def test_hf_inputs_expand_placeholders_to_transformers_counts() -> None:
    """256 tokens per image (CLS dropped) and 8 x 257 = 2056 per video: VideoLlavaConfig's image/video_seq_length."""
    from transformers import VideoLlavaConfig

    processor = VideoLlavaHfProcessor(hf_tokenizer(), VideoLlavaImageProcessor())
    frames = color_frames(8, height=120, width=160)
    batch = processor(
        text=["USER: <video>\nWhat happens? ASSISTANT:", "USER: <image>\nWhat is it? ASSISTANT:"],
        images=[frames[0]],
        videos=[frames],
        padding=True,
    )
    video_id, image_id = (processor.tokenizer.convert_tokens_to_ids(t) for t in ("<video>", "<image>"))
    defaults = VideoLlavaConfig()
    assert int((batch["input_ids"][0] == video_id).sum()) == defaults.video_seq_length == 2056
    assert int((batch["input_ids"][1] == image_id).sum()) == defaults.image_seq_length == 256
    assert batch["pixel_values_videos"].shape == (1, 8, 3, 224, 224)
    assert batch["pixel_values"].shape == (1, 3, 224, 224)
    # frame by frame through the image processor: the video processor's own defaults (short side 224, crop 224)
    one = VideoLlavaImageProcessor()(images=[frames[3]], return_tensors="pt", return_legacy_image_output=False)
    torch.testing.assert_close(batch["pixel_values_videos"][0, 3], one["pixel_values"][0], rtol=0, atol=0)
    assert processor.tokenizer.padding_side == "left" and bool(batch["attention_mask"][1, 0] == 0)


def test_hf_inputs_refuse_mismatched_placeholders() -> None:
    processor = VideoLlavaHfProcessor(hf_tokenizer(), VideoLlavaImageProcessor())
    with pytest.raises(ValueError, match="placeholders"):
        processor(text="USER: <video>\nhi ASSISTANT:", videos=None)
