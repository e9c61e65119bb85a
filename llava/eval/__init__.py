"""LLaVA-1.5 evaluation: LLaVA's generator and scorer CLIs with DUET flags, the judge, the paper's table, lmms-eval.

Generators (`model_vqa_loader`, `model_vqa`, `model_vqa_science`, `model_vqa_mmbench`, `model_vqa_qbench`,
`run_llava`) write LLaVA's answer records (resumable, with the setting in their metadata); scorers (`eval_pope`,
`eval_textvqa`, `eval_science_qa`, `eval_gqa`, `convert_answer_to_mme` + `mme_score`, `eval_mmbench`, `eval_vqa`,
`eval_gpt_review_bench` + `summarize_gpt_review`, `eval_mmvet`) read them and write run records; `summarize` turns
run records into the paper's table and plot. `judge` is the one LLM-judge client; `lmms_plugin` is the lmms-eval
model. The shell drivers live in `scripts/v1_5/eval/` and `scripts/eval/`.
"""
