"""LoRA finetuning saves LLaVA's layout, and the loader's merge reproduces the in-memory merged model exactly."""


import pytest
import torch

from llava.model.builder import load_pretrained_model
from llava.model.language_model.llava_llama import LlavaLlamaForCausalLM
from llava.train.collator import DataCollatorForSupervisedDataset
from llava.train.lora import add_lora, cast_trainables, find_all_linear_names
from tests.train.tiny_runs import TINY_DUET_FLAGS, common_flags, run_training, write_dataset


@pytest.fixture(scope="module")
def lora_run(base_models, pretrain_run, tmp_path_factory: pytest.TempPathFactory):
    """LLaVA's finetune_lora.sh at toy size: r=8, projector from the pretraining run, projector LR 2e-5."""
    _, pretrain_output, _ = pretrain_run
    root = tmp_path_factory.mktemp("lora")
    data = write_dataset(root / "data", "v1", "itit")
    output = root / "llava-tiny-lora"
    flags = common_flags(base_models, data, output, "v1") + TINY_DUET_FLAGS + [
        "--lora_enable", "True", "--lora_r", "8", "--lora_alpha", "16", "--mm_projector_lr", "2e-5",
        "--pretrain_mm_mlp_adapter", str(pretrain_output / "mm_projector.bin"),
        "--max_steps", "2", "--learning_rate", "2e-4",
    ]
    return run_training(flags), output


def test_lora_targets_every_llm_linear_but_not_the_vision_path(lora_run) -> None:
    trainer, _ = lora_run
    adapted = {name.rsplit(".", 1)[-1] for name, module in trainer.model.named_modules() if hasattr(module, "lora_A")}
    assert adapted == {"down_proj", "gate_proj", "k_proj", "o_proj", "q_proj", "up_proj", "v_proj"}
    trainable = {name for name, param in trainer.model.named_parameters() if param.requires_grad}
    assert any("mm_projector" in name for name in trainable)
    assert not any("vision_tower" in name for name in trainable)
    assert all("lora_" in name or "mm_projector" in name for name in trainable)


def test_find_all_linear_names_skips_the_vision_path(base_models) -> None:
    model = LlavaLlamaForCausalLM.from_pretrained(str(base_models[0]))
    model.get_model().attach_vision_modules(str(base_models[1]), projector_type="mlp2x_gelu")
    assert find_all_linear_names(model) == ["down_proj", "gate_proj", "k_proj", "o_proj", "q_proj", "up_proj", "v_proj"]


def test_lora_checkpoint_layout(lora_run) -> None:
    _, output = lora_run
    assert {"adapter_config.json", "adapter_model.safetensors", "non_lora_trainables.bin", "config.json"} <= {
        p.name for p in output.iterdir()
    }
    trainables = torch.load(output / "non_lora_trainables.bin", weights_only=True)
    assert sorted(trainables) == [f"base_model.model.model.mm_projector.{i}.{k}" for i in (0, 2) for k in ("bias", "weight")]


def test_projector_has_its_own_learning_rate(lora_run) -> None:
    trainer, _ = lora_run
    projector = {id(p) for name, p in trainer.model.named_parameters() if "mm_projector" in name}
    groups = trainer.optimizer.param_groups
    assert {group["initial_lr"] for group in groups if {id(p) for p in group["params"]} <= projector} == {2e-5}
    assert {group["initial_lr"] for group in groups if not {id(p) for p in group["params"]} & projector} == {2e-4}
    assert sum(len(group["params"]) for group in groups) == sum(p.requires_grad for p in trainer.model.parameters())


def test_loaded_merge_equals_in_memory_merge(lora_run, base_models) -> None:
    """Kept last in this file: merging changes `trainer.model` in place."""
    trainer, output = lora_run
    batch = DataCollatorForSupervisedDataset(pad_token_id=0)([trainer.train_dataset[i] for i in range(2)])
    batch.pop("labels")
    merged = trainer.model.merge_and_unload().eval()
    _, loaded, _, _ = load_pretrained_model(str(output), model_base=str(base_models[0]), device="cpu")
    with torch.no_grad():
        expected = merged(**batch).logits
        actual = loaded(**batch).logits
    assert torch.allclose(actual, expected, atol=1e-5, rtol=0), (actual - expected).abs().max()


def _tiny_llava_for_lora(base_models) -> LlavaLlamaForCausalLM:
    model = LlavaLlamaForCausalLM.from_pretrained(str(base_models[0]), dtype=torch.bfloat16)
    model.get_model().attach_vision_modules(str(base_models[1]), projector_type="mlp2x_gelu")
    return model


def test_deepspeed_gets_one_trainable_dtype_as_llava_casts(base_models) -> None:
    """PEFT upcasts bf16 adapters to fp32 (which DeepSpeed's flat buffers refuse next to the bf16 projector)."""
    model = add_lora(_tiny_llava_for_lora(base_models), r=4, alpha=8, dropout=0.0, bias="none")
    for param in model.get_model().mm_projector.parameters():
        param.requires_grad_(True)
    before = {p.dtype for p in model.parameters() if p.requires_grad}
    assert before == {torch.float32, torch.bfloat16}  # the mix that made finetune_lora.sh die in DeepSpeed
    cast_trainables(model, torch.bfloat16)
    assert {p.dtype for p in model.parameters() if p.requires_grad} == {torch.bfloat16}


def test_lora_with_a_mixed_dtype_model_is_refused(base_models) -> None:
    model = _tiny_llava_for_lora(base_models)
    model.get_model().layers[1].to(torch.float32)
    with pytest.raises(ValueError, match=r"LoRA needs the language model and projector in one dtype.*torch\.float32: "
                                         r"\d+ parameters, e\.g\. model\.layers\.1\..*--bf16 True"):  # fmt: skip
        add_lora(model, r=4, alpha=8, dropout=0.0, bias="none")
