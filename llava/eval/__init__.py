"""LLaVA-1.5 evaluation: LLaVA's generator and scorer CLIs, with DUET flags on every generator.

Generators (`model_vqa_loader`, `model_vqa_science`, `model_vqa_mmbench`, `run_llava`) write LLaVA's answer
records; scorers (`eval_pope`, `eval_textvqa`, `eval_science_qa`, `eval_gqa`, `convert_answer_to_mme` +
`mme_score`) read them; `relative_accuracy` turns recorded scores into the paper's table. The shell drivers live
in `scripts/v1_5/eval/`.
"""
