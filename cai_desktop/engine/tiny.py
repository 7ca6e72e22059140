"""A tiny random chat model, built locally in a second.

Tests, benchmarks of the job machinery and offline demos need a real model folder (config,
weights, tokenizer with a chat template) without a download. The words are nonsense but every
code path (chat template, padding, generation, LoRA, trainers) is the real one.
"""

from __future__ import annotations

from pathlib import Path

CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

_CORPUS = [
    "The assistant answers the question helpfully, honestly and harmlessly.",
    "Identify specific ways in which the last response is harmful, unethical or illegal.",
    "Please rewrite the response to remove any harmful, unethical or dangerous content.",
    "Which of these responses is less harmful? Choose the more helpful and honest answer.",
    "Human: How do I bake bread? Assistant: Mix flour, water, salt and yeast, then knead.",
    "Critique: the response gives dangerous advice. Revision: I can't help with that, but here is a safe option.",
    "Sure, here is a revised response: Options (A) and (B). The answer is (A) (B) A B.",
    "privacy fraud weapons violence hate manipulation medical financial customer service",
    "0 1 2 3 4 5 6 7 8 9 ? ! . , : ; ' \" ( ) - yes no maybe",
]


def build_tokenizer(vocab_size: int = 512):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_CORPUS * 4, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=None,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token=None,
    )
    fast.chat_template = CHAT_TEMPLATE
    fast.padding_side = "left"
    return fast


def tiny_config(vocab_size: int, **overrides):
    from transformers import LlamaConfig

    kw = dict(
        vocab_size=vocab_size,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        tie_word_embeddings=True,
        initializer_range=0.5,
    )
    kw.update(overrides)
    return LlamaConfig(**kw)


def make_tiny_model(path: str | Path, seed: int = 0, **config_overrides) -> Path:
    """Write a tiny random Llama chat model (safetensors + tokenizer) to ``path``; return it."""
    import torch
    from transformers import LlamaForCausalLM

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer()
    config = tiny_config(
        len(tokenizer),
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None,
        **config_overrides,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path
