"""An ONNX Runtime path for an encoder's image tower (CBIR_ENCODER_RUNTIME).

`torch` runs the PyTorch module as it is. `onnx` exports the module once per
model identity with torch.onnx.export (a dynamic batch axis) and runs it in an
onnxruntime InferenceSession; `onnx-int8` additionally quantises the exported
graph's weights to 8 bits (onnxruntime.quantization.quantize_dynamic). The
exported files are cached under CBIR_DATA_DIR/models/onnx, named by the model
identity and the runtime, and written atomically, so concurrent processes never
read half a file and a second load never exports again.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from indexing.encoders.base import EncoderUnavailable

RUNTIMES = ("torch", "onnx", "onnx-int8")
OPSET = 17
# Static int8 graph layout (QuantFormat member): QDQ or QOperator, chosen by measurement.
STATIC_FORMAT = "QDQ"


def check_runtime(runtime: str) -> str:
    if runtime not in RUNTIMES:
        raise EncoderUnavailable(
            f"Unknown encoder runtime {runtime!r}; set CBIR_ENCODER_RUNTIME to one of "
            f"{list(RUNTIMES)}."
        )
    return runtime


def _onnxruntime() -> Any:
    try:
        import onnxruntime
    except ImportError as exc:
        raise EncoderUnavailable(
            "CBIR_ENCODER_RUNTIME=onnx / onnx-int8 needs the onnxruntime package: install the "
            "project's onnx extra (pip install -e '.[onnx]') or set CBIR_ENCODER_RUNTIME=torch."
        ) from exc
    return onnxruntime


INT8_RECIPE = "w7"  # quantise_int8's recipe: 7-bit per-channel weights (reduce_range)


def onnx_path(cache_dir: Path, identity: str, runtime: str) -> Path:
    """The cached graph of `identity` for `runtime`: a readable slug plus a short hash."""
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", identity).strip("-")[:80]
    digest = hashlib.sha256(identity.encode()).hexdigest()[:10]
    return cache_dir / f"{slug}-{digest}-{runtime}.onnx"


def _atomic_target(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.with_name(f".{path.stem}.{os.getpid()}.tmp.onnx")


def export_onnx(module: Any, input_shape: tuple[int, ...], path: Path) -> Path:
    """Export `module` (eval mode, CPU) to `path` with a dynamic batch axis, atomically."""
    import torch

    if path.is_file():
        return path
    partial = _atomic_target(path)
    example = torch.zeros((2, *input_shape[1:]), dtype=torch.float32)
    # nn.MultiheadAttention's inference fast path is one fused op ONNX has no export for.
    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with torch.inference_mode(False), torch.no_grad():
            torch.onnx.export(
                module.cpu().eval(),
                (example,),
                str(partial),
                input_names=["pixels"],
                output_names=["output"],
                dynamic_axes={"pixels": {0: "batch"}, "output": {0: "batch"}},
                opset_version=OPSET,
                dynamo=False,
            )
        partial.replace(path)
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
        partial.unlink(missing_ok=True)
    return path


def quantise_int8(
    fp32_path: Path, path: Path, calibration: Callable[[], Sequence[np.ndarray]] | None = None
) -> Path:
    """An 8-bit version of the fp32 graph, written atomically.

    With `calibration` (a few preprocessed input batches): static quantisation,
    per-channel int8 weights and uint8 activations whose ranges the batches fix;
    ONNX Runtime then runs convolutions as integer kernels (QLinearConv), the kind
    that is faster than fp32 on a CPU. Without: dynamic quantisation (weights only,
    activations scaled per batch at run time), the usual choice for transformers'
    MatMuls, where convolutions would become slow ConvInteger ops.
    """
    if path.is_file():
        return path
    _onnxruntime()
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_dynamic,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    partial = _atomic_target(path)
    prepared = partial.with_name(partial.name.replace(".tmp.", ".pre.tmp."))
    try:
        if calibration is None:
            quantize_dynamic(str(fp32_path), str(partial), weight_type=QuantType.QUInt8)
        else:
            batches = list(calibration())

            class Reader(CalibrationDataReader):  # type: ignore[misc]  # onnxruntime has no types
                def __init__(self) -> None:
                    self._items = iter(batches)

                def get_next(self) -> dict[str, np.ndarray] | None:
                    batch = next(self._items, None)
                    return None if batch is None else {"pixels": batch.astype(np.float32)}

            quant_pre_process(str(fp32_path), str(prepared))
            quantize_static(
                str(prepared),
                str(partial),
                Reader(),
                quant_format=QuantFormat[STATIC_FORMAT],
                per_channel=True,
                # 7-bit weights: x86 CPUs without VNNI (AVX2, AVX-512 before VNNI) multiply
                # u8 x s8 pairs into saturating int16 sums, and full-range weights overflow
                # them (measured on an AVX2 EPYC: mean cosine to torch 0.91, against 0.99
                # where VNNI is present). The file is the same on every machine.
                reduce_range=True,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
            )
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
        prepared.unlink(missing_ok=True)
    return path


class OnnxImageModel:
    """Callable like the torch module it replaces, on numpy batches: (n, c, h, w) -> (n, k)."""

    def __init__(self, path: Path, *, threads: int = 0):
        ort = _onnxruntime()
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.path = path
        self.session = ort.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self._input = self.session.get_inputs()[0].name

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        outputs = self.session.run(None, {self._input: np.ascontiguousarray(batch, np.float32)})
        return np.asarray(outputs[0])


def load_image_model(
    module: Any,
    *,
    identity: str,
    runtime: str,
    input_shape: tuple[int, ...],
    cache_dir: Path,
    threads: int = 0,
    calibration: Callable[[], Sequence[np.ndarray]] | None = None,
) -> OnnxImageModel:
    """The ONNX Runtime version of `module` for `runtime` (onnx or onnx-int8), cached."""
    check_runtime(runtime)
    if runtime == "torch":
        raise ValueError("load_image_model is for the onnx runtimes")
    _onnxruntime()  # fail with the setting's name before exporting anything
    fp32 = export_onnx(module, input_shape, onnx_path(cache_dir, identity, "onnx"))
    if runtime == "onnx":
        return OnnxImageModel(fp32, threads=threads)
    recipe = f"{identity}+{INT8_RECIPE}"  # a changed recipe writes a new file, not reuses one
    path = quantise_int8(fp32, onnx_path(cache_dir, recipe, runtime), calibration)
    return OnnxImageModel(path, threads=threads)
