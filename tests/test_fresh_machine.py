"""CI's fresh-machine pass (``.ci/fresh_machine.sh``) stays in step with what it checks: the
README's quick start, the system packages ``.ci/run`` installs and the skip reasons of
``tests/system_packages.py``. The pass itself needs root and minutes; CI runs it."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / ".ci" / "fresh_machine.sh"


def _bash_array(name: str) -> list[str]:
    found = re.search(rf"^{name}=\((.*?)\)", SCRIPT.read_text(encoding="utf-8"), re.M | re.S)
    assert found, f"{name} not found in {SCRIPT}"
    return shlex.split(found.group(1))


def test_the_script_reads_the_readmes_two_quick_start_commands() -> None:
    awk = re.search(r"awk '(.*?)' \\\n", SCRIPT.read_text(encoding="utf-8"), re.S)
    assert awk
    out = subprocess.run(
        ["awk", awk.group(1), str(ROOT / "README.md")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert len(out) == 2, out
    assert "pip install -e ." in out[0] and out[0].endswith("finassist demo")
    assert 'pip install -e ".[dev]"' in out[1] and out[1].endswith("pytest")
    # Both are in the README's prose too, word for word (what a new user copies).
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert all(readme.count(command) >= 2 for command in out)


def test_it_hides_every_system_package_ci_installs_and_expects_their_skips() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    installed = re.search(r"for pkg in (.*?); do", ci)
    assert installed
    assert set(installed.group(1).split()) <= set(_bash_array("HIDDEN_PACKAGES"))
    reasons = (ROOT / "tests" / "system_packages.py").read_text(encoding="utf-8")
    expected = _bash_array("SKIP_REASONS")
    assert len(expected) == 3 and all(reason in reasons for reason in expected)
    assert ".ci/fresh_machine.sh" in ci
