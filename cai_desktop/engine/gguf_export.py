"""Export a model (a base with its LoRA adapter merged in) as GGUF files for llama.cpp and Ollama.

The conversion is the minimal part of llama.cpp's ``convert_hf_to_gguf.py`` that the Llama
architecture needs (SmolLM2 is a Llama): the ``llama`` metadata keys, the tensor names llama.cpp
expects, the Q/K rows permuted into its rotary layout (which transformers' GGUF loader reverses),
and the byte-level BPE tokenizer (tokens, types, merges, special ids, chat template). The
tensors are written with the ``gguf`` package (gguf-py, the writer llama.cpp ships), as f16 and
as q8_0 (quantised by gguf-py too). Other architectures get a clear "not supported yet".

Next to the files goes an Ollama ``Modelfile`` (``FROM``, ``TEMPLATE`` from the chat template,
``PARAMETER stop``), so ``ollama create NAME -f Modelfile`` works in that folder.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from cai_desktop.core.errors import ModelError, ValidationError

#: the types this export writes: name -> (llama.cpp file type, tensor type of the 2-D weights)
TYPES = ("f16", "q8_0")
SUPPORTED_ARCHITECTURES = ("LlamaForCausalLM",)


def _progress(ctx: Any, done: int, total: int, message: str) -> None:
    if ctx is not None:
        ctx.progress(done, total, message)


def _check_cancel(ctx: Any) -> None:
    if ctx is not None and hasattr(ctx, "check_cancel"):
        ctx.check_cancel()


def permute(weights: Any, n_head: int, n_head_kv: int | None = None) -> Any:
    """llama.cpp's row order for the Q and K projections (``convert_hf_to_gguf.LlamaModel.permute``)."""
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return (weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:])
            .swapaxes(1, 2).reshape(weights.shape))


def tensor_name(hf_name: str) -> str | None:
    """The llama.cpp name of a Hugging Face Llama tensor (None: not written, e.g. rotary caches)."""
    fixed = {"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight",
             "lm_head.weight": "output.weight"}
    if hf_name in fixed:
        return fixed[hf_name]
    m = re.fullmatch(r"model\.layers\.(\d+)\.(.+)\.weight", hf_name)
    if not m:
        return None
    parts = {"input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm",
             "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
             "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
             "mlp.down_proj": "ffn_down"}
    part = parts.get(m.group(2))
    return f"blk.{m.group(1)}.{part}.weight" if part else None


def _rope_theta(config: Any) -> float:
    rp = getattr(config, "rope_parameters", None) or {}
    kind = rp.get("rope_type", "default") if isinstance(rp, dict) else "default"
    scaling = getattr(config, "rope_scaling", None)
    if kind != "default" or (isinstance(scaling, dict) and scaling.get("rope_type", scaling.get("type")) not in (None, "default")):
        raise ModelError(f"GGUF export does not support this model's rope scaling ({kind}) yet.")
    theta = rp.get("rope_theta") if isinstance(rp, dict) else None
    return float(theta or getattr(config, "rope_theta", None) or 10000.0)


def _tokenizer_metadata(writer: Any, tokenizer: Any, vocab_size: int, name: str) -> None:
    """The byte-level BPE vocabulary as llama.cpp's ``gpt2`` tokenizer model."""
    import gguf

    spec = json.loads(tokenizer.backend_tokenizer.to_str()) if hasattr(tokenizer, "backend_tokenizer") else {}
    model = spec.get("model") or {}
    pre = json.dumps(spec.get("pre_tokenizer") or {})
    if model.get("type") != "BPE" or "ByteLevel" not in pre:
        raise ModelError("GGUF export supports byte-level BPE tokenizers (GPT-2 style, as SmolLM2's) only "
                         "for now; this model's tokenizer is of another kind.")
    reverse = {i: t for t, i in tokenizer.get_vocab().items()}
    added = tokenizer.added_tokens_decoder  # id -> AddedToken
    tokens, types = [], []
    for i in range(vocab_size):
        if i not in reverse:
            tokens.append(f"[PAD{i}]")
            types.append(gguf.TokenType.UNUSED)
        elif i in added:
            tokens.append(reverse[i])
            types.append(gguf.TokenType.CONTROL if added[i].special else gguf.TokenType.USER_DEFINED)
        else:
            tokens.append(reverse[i])
            types.append(gguf.TokenType.NORMAL)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("smollm" if "smollm" in name.lower() else "gpt2")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    merges = [m if isinstance(m, str) else " ".join(m) for m in model.get("merges") or []]
    if merges:
        writer.add_token_merges(merges)
    for role, add in (("bos", writer.add_bos_token_id), ("eos", writer.add_eos_token_id),
                      ("pad", writer.add_pad_token_id), ("unk", writer.add_unk_token_id)):
        tid = getattr(tokenizer, f"{role}_token_id", None)
        if tid is not None:
            add(int(tid))
    writer.add_add_bos_token(False)
    if getattr(tokenizer, "chat_template", None):
        writer.add_chat_template(tokenizer.chat_template)


def write_gguf(model: Any, tokenizer: Any, path: Path, kind: str, name: str, ctx: Any = None) -> Path:
    """Write one GGUF file of a loaded Llama model (``kind``: "f16" or "q8_0")."""
    import gguf
    import numpy as np

    if kind not in TYPES:
        raise ValidationError(f"GGUF type {kind!r} is not offered; choose one of {', '.join(TYPES)}.")
    config = model.config
    archs = getattr(config, "architectures", None) or [type(model).__name__]
    if archs[0] not in SUPPORTED_ARCHITECTURES:
        raise ModelError(f"GGUF export supports Llama models (SmolLM2 and the like) for now; "
                         f"{archs[0]} is not supported yet.")
    n_head, n_kv = config.num_attention_heads, config.num_key_value_heads or config.num_attention_heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // n_head
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name(name)
    writer.add_context_length(config.max_position_embeddings)
    writer.add_embedding_length(config.hidden_size)
    writer.add_block_count(config.num_hidden_layers)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_head_count(n_head)
    writer.add_head_count_kv(n_kv)
    writer.add_rope_freq_base(_rope_theta(config))
    writer.add_layer_norm_rms_eps(config.rms_norm_eps)
    writer.add_rope_dimension_count(head_dim)
    writer.add_vocab_size(config.vocab_size)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16 if kind == "f16" else gguf.LlamaFileType.MOSTLY_Q8_0)
    _tokenizer_metadata(writer, tokenizer, config.vocab_size, name)
    state = model.state_dict()
    tied = bool(getattr(config, "tie_word_embeddings", False))
    items = [(k, v) for k, v in state.items() if not (tied and k == "lm_head.weight")]
    for i, (hf_name, tensor) in enumerate(items):
        _check_cancel(ctx)
        gname = tensor_name(hf_name)
        if gname is None:
            if hf_name.endswith("rotary_emb.inv_freq"):
                continue
            raise ModelError(f"GGUF export does not know the tensor {hf_name}; this model is not supported yet.")
        data = tensor.detach().float().cpu().numpy()
        if hf_name.endswith("q_proj.weight"):
            data = permute(data, n_head, n_head)
        elif hf_name.endswith("k_proj.weight"):
            data = permute(data, n_head, n_kv)
        if data.ndim == 1:  # norms stay f32, as llama.cpp writes them
            writer.add_tensor(gname, data.astype(np.float32))
        elif kind == "q8_0" and data.shape[-1] % 32 == 0:
            q = gguf.quants.quantize(data, gguf.GGMLQuantizationType.Q8_0)
            writer.add_tensor(gname, q, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
        else:
            writer.add_tensor(gname, data.astype(np.float16))
        if i % 8 == 0:
            _progress(ctx, i, len(items), f"writing {kind} tensors")
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def ollama_template(chat_template: str | None) -> tuple[str, list[str]]:
    """An Ollama (Go template) ``TEMPLATE`` and its stop strings for a chat template: the ChatML
    shape (``<|im_start|>role ... <|im_end|>``, SmolLM2's and the tiny model's) is recognised;
    anything else gets a plain transcript template."""
    if chat_template and "<|im_start|>" in chat_template:
        return ('{{- range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n{{ end }}'
                '<|im_start|>assistant\n', ["<|im_end|>", "<|im_start|>"])
    return ('{{- range .Messages }}{{ if eq .Role "user" }}Human: {{ .Content }}\n\n'
            '{{ else if eq .Role "assistant" }}Assistant: {{ .Content }}\n\n{{ else }}{{ .Content }}\n\n'
            '{{ end }}{{ end }}Assistant:', ["\nHuman:"])


def write_modelfile(folder: Path, gguf_name: str, chat_template: str | None) -> Path:
    template, stops = ollama_template(chat_template)
    lines = [f"FROM ./{gguf_name}", f'TEMPLATE """{template}"""']
    lines += [f'PARAMETER stop "{s}"'.replace("\n", "\\n") for s in stops]
    lines += ["PARAMETER temperature 0.7", ""]
    path = folder / "Modelfile"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def export_model_dir(model_dir: str | Path, out_dir: str | Path, name: str, types: tuple[str, ...] = TYPES,
                     ctx: Any = None) -> dict[str, Any]:
    """GGUF files (one per type) + an Ollama Modelfile of a full model folder, into ``out_dir``."""
    import torch
    from transformers import AutoModelForCausalLM

    from cai_desktop.engine.models import load_tokenizer

    model_dir, out_dir = Path(model_dir), Path(out_dir).expanduser()
    bad = [t for t in types if t not in TYPES]
    if bad or not types:
        raise ValidationError(f"GGUF types to write: choose among {', '.join(TYPES)} (got {', '.join(bad) or 'none'}).")
    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    arch = (config.get("architectures") or ["?"])[0]
    if arch not in SUPPORTED_ARCHITECTURES:
        raise ModelError(f"GGUF export supports Llama models (SmolLM2 and the like) for now; {arch} is not supported yet.")
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise ValidationError(f"{out_dir} already exists and is not empty; choose a new folder.")
    if not out_dir.parent.exists():
        raise ValidationError(f"The folder {out_dir.parent} does not exist.")
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32)
    tokenizer = load_tokenizer(model_dir)
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "model"
    tmp = out_dir.with_name(out_dir.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    files = {}
    try:
        for kind in types:
            files[kind] = write_gguf(model, tokenizer, tmp / f"{safe}-{kind}.gguf", kind, name, ctx).name
        write_modelfile(tmp, files.get("q8_0", files[types[0]]), getattr(tokenizer, "chat_template", None))
        if out_dir.exists():
            out_dir.rmdir()
        tmp.rename(out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {"folder": str(out_dir), "files": {k: str(out_dir / v) for k, v in files.items()},
            "modelfile": str(out_dir / "Modelfile")}


def export_gguf(base: Any, adapter_dir: str | Path | None, out_dir: str | Path, name: str,
                types: tuple[str, ...] = TYPES, ctx: Any = None) -> dict[str, Any]:
    """Merge ``adapter_dir`` (None: no adapter) into ``base`` (a model spec) and export it as GGUF."""
    from cai_desktop.engine.sft import merge_adapter, resolve_base_dir

    if adapter_dir is None:
        base_dir, _spec = resolve_base_dir(base, ctx)
        return export_model_dir(base_dir, out_dir, name, types, ctx)
    with tempfile.TemporaryDirectory(prefix="cai-gguf-") as tmp:
        _progress(ctx, 0, 3, "merging the adapter into its base model")
        merged = merge_adapter(base, adapter_dir, Path(tmp) / "merged", None)
        return export_model_dir(merged, out_dir, name, types, ctx)
