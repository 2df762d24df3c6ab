"""Every instrument family tipring drives, assembled into a bench from a bench file.

The default simulated bench uses one model of each role; fixtures/sim-families.yaml swaps in
the other families (34465A, 33600A, DP832, E36312A, InfiniiVision) and shows that the bench
file, the bench assembly, the simulators and the drivers fit together end to end.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from harness import cli
from harness.fixture import FixtureError, load_bench

ROOT = Path(__file__).resolve().parent.parent
SIM = (ROOT / "fixtures" / "sim.yaml").read_text()
FAMILIES = ROOT / "fixtures" / "sim-families.yaml"


def variant(tmp_path: Path, *edits: tuple[str, str]) -> Path:
    text = SIM
    for old, new in edits:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    path = tmp_path / "bench.yaml"
    path.write_text(text)
    return path


def test_bench_check_opens_every_family_and_the_instruments_agree(capsys):
    assert cli.main(["bench", "check", "--bench", str(FAMILIES)]) == 0
    out = capsys.readouterr().out
    for model in ("34465A", "33622A", "DSO", "DP832", "E36312A", "LabJack T7", "E3634A"):
        assert model in out, model
    assert "line_voltage_agreement" in out and ": pass" in out


def test_the_fxo_plans_pass_on_a_33600a_ringing_from_channel_2_and_a_34465a():
    done = subprocess.run([sys.executable, "-m", "pytest", "testplans", "-p", "no:cacheprovider", "-q",
                           "--bench", str(FAMILIES), "-k", "fxo or on_hook"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:]
    assert "4 passed" in done.stdout.splitlines()[-1]


@pytest.mark.parametrize("edit, message", [
    (("ringer: {generator: gen, channel: 1", "ringer: {generator: gen, channel: 3"),
     "ports.fxo1.ringer.channel: gen (keysight_33500b) has outputs 1-2"),
    (("scope: {input: scope:1,", "scope: {input: scope:5,"),
     "ports.fxs1.scope.input: 'scope:5' is not of the form instrument:channel (e.g. scope:1, channels 1-4)"),
    (("scope: {input: scope:1,", "scope: {input: dmm:1,"),
     "ports.fxs1.scope.input: instrument 'dmm' is a keysight_34461a, not a scope"),
])
def test_a_channel_the_instrument_does_not_have_is_one_line(tmp_path, edit, message):
    path = variant(tmp_path, edit)
    with pytest.raises(FixtureError) as caught:
        load_bench(path)
    assert str(caught.value) == f"{path}: {message}"
