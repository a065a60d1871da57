"""``convzoo bench``'s report: the spread of the timed calls, a warning on a busy machine, and
activation memory that equals the bytes of the tensors the forward creates (counted by hand)."""
from __future__ import annotations

import json
import os

import torch
from torch import nn

from convzoo.analysis.memory import forward_activation_memory, human_bytes
from convzoo.cli import main

ARGS = ["bench", "waveform_m3", "--input-size", "1", "2000", "--runs", "4", "--warmup", "0", "--threads", "1"]


def test_activation_memory_equals_the_output_sizes():
    x = torch.randn(2, 3, 16, 16)
    conv_out, pw_out = 2 * 8 * 16 * 16 * 4, 2 * 4 * 16 * 16 * 4         # float32 bytes
    m = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 4, 1))
    r = forward_activation_memory(m, x)
    # conv output and ReLU output are alive together; then the ReLU output and the 1x1 conv's
    assert r.peak_bytes == 2 * conv_out and r.total_bytes == 2 * conv_out + pw_out
    m[1] = nn.ReLU(inplace=True)                                          # in place: nothing new
    r = forward_activation_memory(m, x)
    assert r.peak_bytes == conv_out + pw_out and r.total_bytes == conv_out + pw_out
    # with autograd on, the tensors saved for the backward stay alive: the peak is the total
    r = forward_activation_memory(nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU()), x, grad=True)
    assert r.peak_bytes == r.total_bytes == 2 * conv_out
    assert human_bytes(512) == "512 B" and human_bytes(1536) == "1.5 KB" and human_bytes(3 * 2 ** 20) == "3 MB"


def test_bench_reports_quartiles_and_activations(monkeypatch, capsys):
    monkeypatch.setattr(os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    assert main(ARGS + ["--batch", "8", "--json"]) == 0
    out = capsys.readouterr()
    info = json.loads(out.out)
    assert info["latency_q1_ms"] <= info["latency_ms"] <= info["latency_q3_ms"]
    assert info["activation_peak_bytes"] > 0 and info["activation_total_bytes"] >= info["activation_peak_bytes"]
    assert "warning" not in out.err
    assert main(ARGS + ["--batch", "8"]) == 0
    text = capsys.readouterr().out
    assert "quartiles" in text and "activations" in text and "per sample" in text
    assert "peak allocated by one forward of batch 8" in text


def test_bench_warns_when_the_machine_is_busy(monkeypatch, capsys):
    monkeypatch.setattr(os, "getloadavg", lambda: (5.5, 4.0, 3.0))
    assert main(ARGS) == 0
    err = capsys.readouterr().err
    assert "warning: load average 5.5" in err and "1 thread(s)" in err and len(err.strip().splitlines()) == 1
