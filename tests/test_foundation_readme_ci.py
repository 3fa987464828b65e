"""README's two set-up commands and .ci/run agree, and CI fails when no test ran."""

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()


def quickstart_commands():
    section = README.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.*?)\n```", section, flags=re.S)


def test_quickstart_has_exactly_two_commands():
    commands = quickstart_commands()
    assert len(commands) == 2 and all("\n" not in c for c in commands)
    install, test = commands
    assert install.endswith("tfforge demo")
    assert '".[test]"' in test and "pytest" in test


def test_ci_runs_the_readme_test_command():
    out = subprocess.run(["bash", str(REPO / ".ci" / "run"), "--print-command"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == quickstart_commands()[1]


def test_ci_runs_the_readme_demo_command_in_a_new_venv():
    out = subprocess.run(["bash", str(REPO / ".ci" / "run"), "--print-demo-command"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == quickstart_commands()[0]
    script = (REPO / ".ci" / "run").read_text()
    # each command starts from a removed .venv: the demo, then the tests
    assert script.count("rm -rf .venv") == 2
    assert script.index("rm -rf .venv") < script.index('-c "$demo_cmd"') < script.rindex("rm -rf .venv") \
        < script.index('-c "$test_cmd"')


def _demo_log(tmp_path, text):
    path = tmp_path / "demo.log"
    path.write_text(text)
    return subprocess.run([sys.executable, str(REPO / ".ci" / "check_demo.py"), str(path)],
                          capture_output=True, text=True)


def test_ci_fails_on_any_failed_demo_step(tmp_path):
    ok = "[1/2] a\n  fine\n[2/2] b\n  fine\n\ndemo: 2/2 steps ok\n"
    assert _demo_log(tmp_path, ok).returncode == 0
    assert _demo_log(tmp_path, "[1/2] a\n  FAILED: No module named 'pyarrow'\n\ndemo: 1/2 steps ok\n").returncode == 1
    assert _demo_log(tmp_path, "[1/2] a\n").returncode == 1  # no summary: the demo died


def _junit(tmp_path, tests, skipped):
    path = tmp_path / "report.xml"
    path.write_text(f'<testsuites><testsuite name="pytest" tests="{tests}" skipped="{skipped}" '
                    f'failures="0" errors="0"></testsuite></testsuites>')
    return subprocess.run([sys.executable, str(REPO / ".ci" / "count_tests.py"), str(path)],
                          capture_output=True, text=True)


def test_ci_fails_when_no_test_ran(tmp_path):
    assert _junit(tmp_path, tests=0, skipped=0).returncode == 1
    assert _junit(tmp_path, tests=5, skipped=5).returncode == 1
    assert _junit(tmp_path, tests=5, skipped=1).returncode == 0
