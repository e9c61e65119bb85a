"""Zero-shot video QA (MSVD-QA, MSRVTT-QA, TGIF-QA, ActivityNet-QA) as Video-LLaVA evaluates it: generation
(`run_inference_video_qa`), judging with an LLM (`eval_video_qa`, through `llava.eval.judge`), and aggregation."""
