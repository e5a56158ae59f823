"""`make bench-convert` runs end to end on a small checkpoint and prints what it is judged by."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO


def test_the_benchmark_prints_copy_and_each_worker_count(tokenizer_model: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "benchmarks/convert_throughput.py", "--layers", "11", "--hidden", "128"]
        + ["--intermediate", "512", "--workers", "1,2", "--tokenizer", str(tokenizer_model)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    number = r"\s+([0-9.]+)"
    copy = re.search(r"^copy \+ fsync" + number * 2, proc.stdout, re.M)
    runs = re.findall(r"^convert, (\d) worker\(s\)" + number * 3 + r"\s+(\S+)", proc.stdout, re.M)
    assert copy and [r[0] for r in runs] == ["1", "2"], proc.stdout
    for _, seconds, mb_per_s, of_copy, _ in runs:
        # The ratio to the copy is the two passes' times, as printed.
        assert float(of_copy) == round(float(copy.group(1)) / float(seconds), 2)
        assert float(mb_per_s) > 0
    assert runs[0][4] == "1.00x"
