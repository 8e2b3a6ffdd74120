"""The benchmark commands print figures from real runs (never timed assertions)."""

import json

import pytest
from helpers import SMOKE, run_cli

from emergence.perf import datasheet_peak


def test_datasheet_peaks_match_the_most_specific_device_name():
    assert datasheet_peak("NVIDIA H100 80GB HBM3", "bfloat16") == 989e12
    assert datasheet_peak("NVIDIA H100 PCIe", "bfloat16") == 756e12
    assert datasheet_peak("NVIDIA H200", "bfloat16") == 989e12
    assert datasheet_peak("cpu", "float32") is None


@pytest.mark.slow
def test_perf_train_reports_throughput_against_the_measured_peak():
    result = run_cli("perf", "train", "--config", SMOKE, "--seconds", "1")
    assert result.returncode == 0, result.stderr[-2000:]
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["tokens_per_s"] > 0 and figures["matmul_peak_flops_per_s"] > 0
    assert figures["ratio"] == pytest.approx(figures["flops_per_s"] / figures["matmul_peak_flops_per_s"])
    assert figures["precision"] == "float32" and figures["mfu"] is None  # no datasheet peak for a CPU
    assert figures["peak_rss_mib"] > 0
