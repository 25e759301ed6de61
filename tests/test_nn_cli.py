"""`bitscale train` / `bitscale export-qonnx` through the real CLI: bad input, outputs, QONNX."""

import json
import subprocess
import sys

import numpy as np
import pytest

CMD = [sys.executable, "-W", "ignore", "-m", "bitscale"]


def _run(args, cwd=None):
    return subprocess.run(CMD + args, capture_output=True, text=True, cwd=cwd, timeout=600)


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--wbits", "17"], "--wbits must be 1..16 or float, not 17"),
        (["--wbits", "0"], "--wbits must be 1..16 or float, not 0"),
        (["--abits", "0"], "--abits must be 1..16 or float, not 0"),
        (["--abits", "x2"], "--abits must be 1..16 or float, not 'x2'"),
        (["--scale", "0.0001"], "round(4096*0.0001)=0"),
        (["--model", "cnv", "--scale", "1/200"], "cnv conv layer 0 width round(64*0.005)=0"),
        (["--model", "resnet"], "unknown model 'resnet'"),
        (["--dataset", "imagenet"], "unknown dataset 'imagenet'"),
        (["--dataset", "mnist", "--data-dir", "/nonexistent/mnist"], "/nonexistent/mnist"),
        (["--dataset", "fashion-mnist", "--data-dir", "EMPTY"], "train-images-idx3-ubyte"),
        (["--device", "cuda"], "CUDA is not available"),
    ],
)
def test_bad_input_one_line_exit_2_nothing_written(tmp_path, args, needle):
    import torch

    if args == ["--device", "cuda"] and torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    (tmp_path / "empty").mkdir()
    args = [str(tmp_path / "empty") if a == "EMPTY" else a for a in args]
    out = tmp_path / "run"
    r = _run(["train", "--epochs", "1", "--out", str(out)] + args)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], r.stderr
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty"]  # no temp dirs left behind


@pytest.mark.training
def test_train_cli_then_qonnx(tmp_path):
    out = tmp_path / "run"
    r = _run(
        [
            "train",
            "--model",
            "fc",
            "--wbits",
            "2",
            "--abits",
            "2",
            "--scale",
            "1/128",
            "--dataset",
            "digits",
            "--epochs",
            "1",
            "--seed",
            "0",
            "--batch-size",
            "64",
            "--lr",
            "0.01",
            "--out",
            str(out),
        ]
    )
    assert r.returncode == 0, r.stderr
    assert "epoch 1/1: loss" in r.stderr and "test accuracy" in r.stdout  # progress on stderr
    assert sorted(p.name for p in out.iterdir()) == [
        "checkpoint.pt",
        "config.json",
        "metrics.json",
        "network.json",
        "network.npz",
    ]
    m = json.loads((out / "metrics.json").read_text())
    for k in ("test_acc", "golden_test_acc", "golden_agreement", "golden_act_match", "loss", "config", "params"):
        assert k in m
    assert m["golden_agreement"] == 1.0 and len(m["loss"]) == 1

    onnx_path = tmp_path / "m.onnx"
    r = _run(["export-qonnx", str(out), "--out", str(onnx_path)])
    assert r.returncode == 0, r.stderr
    import onnx
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx

    model = onnx.load(onnx_path)
    onnx.checker.check_model(model)
    assert sum(n.op_type == "Quant" for n in model.graph.node) >= 4
    # QONNX executes and predicts what the golden model predicts
    from bitscale.nn import data as nndata, golden, ir

    net = ir.load(out)
    x, _ = nndata.test_set(out)
    x = x[:32]
    from qonnx.transformation.infer_shapes import InferShapes

    mw = ModelWrapper(str(onnx_path)).transform(InferShapes())
    iname, oname = mw.graph.input[0].name, mw.graph.output[0].name
    logits = np.concatenate(
        [execute_onnx(mw, {iname: (x[i : i + 1] / 255.0).astype(np.float32)})[oname] for i in range(len(x))]
    )
    gl = golden.run(net, x)
    scale = net.meta["last_scale"]
    assert np.abs(logits / scale - gl).max() < 1e-2 * max(1, np.abs(gl).max())
    assert (np.round(logits / scale).astype(np.int64) == gl).mean() > 0.99


def test_export_qonnx_errors(tmp_path):
    r = _run(["export-qonnx", str(tmp_path / "nope")])
    assert r.returncode == 2 and "no checkpoint.pt" in r.stderr
    out = tmp_path / "float"
    r = _run(["train", "--wbits", "float", "--abits", "float", "--scale", "1/128", "--epochs", "1", "--out", str(out)])
    assert r.returncode == 0, r.stderr
    assert not (out / "network.json").exists()
    r = _run(["export-qonnx", str(out)])
    assert r.returncode == 2 and "float baseline" in r.stderr and len(r.stderr.strip().splitlines()) == 1


@pytest.mark.slow  # 17 s on the loaded 2-core machine (fast tier, #17)
def test_refuses_to_replace_a_foreign_directory(tmp_path):
    (tmp_path / "keep.txt").write_text("precious")
    r = _run(["train", "--scale", "1/128", "--epochs", "1", "--out", str(tmp_path)])
    assert r.returncode == 2 and "not a bitscale run" in r.stderr
    assert (tmp_path / "keep.txt").read_text() == "precious"
