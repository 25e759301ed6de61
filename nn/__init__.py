"""bitscale.nn: Brevitas training, datasets, the QuantizedNetwork IR and its golden integer model."""


def from_brevitas(module, input_shape, num_classes=None, meta=None, keep_onnx=None):
    """A Brevitas module -> (QuantizedNetwork, cleaned qonnx model), through QONNX (nn/importer.py)."""
    from bitscale.nn.importer import from_brevitas as _from_brevitas

    return _from_brevitas(module, input_shape, num_classes, meta, keep_onnx)


def import_qonnx(path, num_classes=None, meta=None):
    """A QONNX file -> (QuantizedNetwork, cleaned qonnx model) (nn/importer.py)."""
    from bitscale.nn.importer import import_qonnx as _import_qonnx

    return _import_qonnx(path, num_classes, meta)
