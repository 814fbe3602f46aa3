"""Checkpoint files: round trips, atomic writes, clear errors for bad files, torch weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import rnnlab as rl
from rnnlab.engine import checkpoint as ckpt

GOLDEN = Path(__file__).parent / "golden_weights"


def test_round_trip_keeps_arrays_and_metadata(tmp_path):
    arrays = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.array([3], np.int64)}
    meta = {"step": 7, "nested": {"x": [1, 2.5, "s"]}}
    ckpt.save_file(tmp_path / "c.safetensors", arrays, meta)
    got, m = ckpt.load_file(tmp_path / "c.safetensors")
    assert set(got) == {"a", "b"}
    np.testing.assert_array_equal(got["a"], arrays["a"])
    assert got["a"].dtype == np.float32
    assert m["step"] == 7 and m["nested"] == meta["nested"]


def test_failed_write_leaves_previous_file_loadable(tmp_path, monkeypatch):
    path = tmp_path / "c.safetensors"
    ckpt.save_file(path, {"w": np.ones(4, np.float32)}, {"v": 1})

    def broken(arrays, filename, metadata=None):
        Path(filename).write_bytes(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr("safetensors.numpy.save_file", broken)
    with pytest.raises(OSError, match="disk full"):
        ckpt.save_file(path, {"w": np.zeros(4, np.float32)}, {"v": 2})
    got, meta = ckpt.load_file(path)
    np.testing.assert_array_equal(got["w"], np.ones(4))
    assert meta["v"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["c.safetensors"]


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_damaged_files_give_clear_errors(tmp_path, damage):
    path = tmp_path / "c.safetensors"
    ckpt.save_file(path, {"w": np.ones((8, 8), np.float32)}, {"v": 1})
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        path.write_bytes(b"\xff" * 64 + data[64:])
    else:
        path.write_bytes(b"")
    with pytest.raises(ckpt.CheckpointError, match="not a readable safetensors file"):
        ckpt.load_file(path)


def test_missing_file_and_non_finite_values(tmp_path):
    with pytest.raises(ckpt.CheckpointError, match="got nothing at that path"):
        ckpt.load_file(tmp_path / "nope.safetensors")
    path = tmp_path / "nan.safetensors"
    ckpt.save_file(path, {"w": np.array([1.0, np.nan], np.float32)}, {})
    with pytest.raises(ckpt.CheckpointError, match="'w' holds NaN or Inf"):
        ckpt.load_file(path)


def test_plain_safetensors_needs_opt_in(tmp_path):
    from safetensors.numpy import save_file

    save_file({"w": np.ones(2, np.float32)}, str(tmp_path / "plain.safetensors"))
    with pytest.raises(ckpt.CheckpointError, match="without rnnlab metadata"):
        ckpt.load_file(tmp_path / "plain.safetensors")
    got, meta = ckpt.load_file(tmp_path / "plain.safetensors", require_meta=False)
    assert meta == {} and got["w"].shape == (2,)


def test_weights_saved_by_pytorch_load_into_the_matching_layer():
    lstm = rl.LSTM(3, 5, num_layers=2, bidirectional=True, batch_first=True, seed=1)
    rl.load_weights(lstm, GOLDEN / "torch_lstm.safetensors")
    io = np.load(GOLDEN / "torch_lstm_io.npz", allow_pickle=False)
    out, (h, c) = lstm(io["x"])
    np.testing.assert_allclose(out, io["out"], rtol=2e-4, atol=1e-5)
    np.testing.assert_allclose(h, io["h_n"], rtol=2e-4, atol=1e-5)
    np.testing.assert_allclose(c, io["c_n"], rtol=2e-4, atol=1e-5)


def test_weights_for_another_shape_are_refused_and_change_nothing():
    lstm = rl.LSTM(3, 6, num_layers=2, bidirectional=True, seed=1)
    before = lstm.state_dict()
    with pytest.raises(ckpt.CheckpointError, match="expected shape"):
        rl.load_weights(lstm, GOLDEN / "torch_lstm.safetensors")
    for k, v in lstm.state_dict().items():
        np.testing.assert_array_equal(v, before[k])


def test_save_then_load_weights(tmp_path):
    gru = rl.GRU(4, 3, bidirectional=True, seed=3)
    rl.save_weights(gru, tmp_path / "g.safetensors")
    other = rl.GRU(4, 3, bidirectional=True, seed=4)
    rl.load_weights(other, tmp_path / "g.safetensors")
    for (n, p), (_, q) in zip(gru.named_parameters(), other.named_parameters()):
        np.testing.assert_array_equal(p.data, q.data, err_msg=n)


def test_flatten_round_trip():
    tree = {"step": 3, "buffers": {"0.m": np.ones(2), "1.v": np.zeros((2, 2))},
            "list": [np.arange(3), 4]}
    arrays, skeleton = ckpt.flatten(tree)
    back = ckpt.unflatten(skeleton, arrays)
    assert back["step"] == 3 and back["list"][1] == 4
    np.testing.assert_array_equal(back["buffers"]["1.v"], np.zeros((2, 2)))
    np.testing.assert_array_equal(back["list"][0], np.arange(3))


def test_a_flipped_byte_in_the_data_is_caught_by_the_checksum(tmp_path):
    path = tmp_path / "c.safetensors"
    ckpt.save_file(path, {"w": np.arange(64, dtype=np.float32)}, {"v": 1})
    data = bytearray(path.read_bytes())
    data[-10] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(ckpt.CheckpointError, match="do not match the checksum"):
        ckpt.load_file(path)


def _raw_safetensors(path, header: dict, payload: bytes) -> None:
    import json
    import struct

    text = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + payload)


def test_bfloat16_weights_get_a_clear_message(tmp_path):
    path = tmp_path / "bf.safetensors"
    _raw_safetensors(path, {"w": {"dtype": "BF16", "shape": [2], "data_offsets": [0, 4]}},
                     b"\x80\x3f\x80\x3f")
    with pytest.raises(ckpt.CheckpointError, match="bfloat16"):
        ckpt.load_file(path, require_meta=False)


def test_a_malformed_format_version_is_a_checkpoint_error(tmp_path):
    import json

    path = tmp_path / "v.safetensors"
    meta = {"format": ckpt.FORMAT, "format_version": "2"}
    _raw_safetensors(path, {"__metadata__": {"rnnlab": json.dumps(meta)},
                            "w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}},
                     np.ones(1, np.float32).tobytes())
    with pytest.raises(ckpt.CheckpointError, match="expected an integer format_version"):
        ckpt.load_file(path)
