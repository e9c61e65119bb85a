"""The lmms-eval entry point (`[project.entry-points."lmms_eval.models"] duet_llava`).

lmms-eval calls `manifest()` at start-up to register `duet_llava`; the model class itself (`llava.eval.lmms_plugin`,
which imports torch and transformers) is only imported when a run asks for it.
"""

from lmms_eval.models.registry_v2 import ModelManifest

MODEL_ID = "duet_llava"


def manifest() -> ModelManifest:
    return ModelManifest(model_id=MODEL_ID, simple_class_path="llava.eval.lmms_plugin.DuetLlava")
