"""ActivityNet-QA: `run_inference_video_qa` with ActivityNet's file names (`v_<video_name>.mp4`), as Video-LLaVA's
`run_inference_video_qa_act.py`; every flag is the same."""

from collections.abc import Sequence

from llava.eval.video.qa_files import BENCHMARKS
from llava.eval.video.run_inference_video_qa import main as run_main


def main(argv: Sequence[str] | None = None) -> list[dict]:
    return run_main(argv, video_prefix=BENCHMARKS["activitynet"].video_prefix)


if __name__ == "__main__":
    main()
