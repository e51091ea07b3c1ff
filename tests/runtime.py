"""What the installed onnxruntime can read, for tests that pick an opset."""

from __future__ import annotations

from functools import cache

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper


@cache
def latest_opset() -> int:
    """The newest default-domain opset that both onnx and the installed onnxruntime read: onnx may be newer
    than the runtime (sk2tensor itself picks the lowest opset its graph needs)."""
    for opset in range(onnx.defs.onnx_opset_version(), 12, -1):
        graph = helper.make_graph(
            [helper.make_node("Identity", ["x"], ["y"])],
            "probe",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
        )
        opsets = [helper.make_opsetid("", opset)]
        model = helper.make_model(graph, opset_imports=opsets, ir_version=helper.find_min_ir_version_for(opsets))
        try:
            session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
            session.run(None, {"x": np.zeros(1, np.float32)})
        except Exception:  # onnxruntime's own exception types: this opset or IR version is too new for it
            continue
        return opset
    raise RuntimeError(f"onnxruntime {ort.__version__} reads none of the opsets 13-{onnx.defs.onnx_opset_version()}")
