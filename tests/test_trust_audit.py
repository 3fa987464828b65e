"""Issue 10 cases that had no test of their own reproducing the reported input:

- outputs are fsync'd before the rename and the directory after it (Python and native writers), seen
  in the system calls the writers make;
- non-regular files (a FIFO) are refused by the Python API as by the CLI, for every reader that opens
  files by path (graph, checkpoint, format detection, records): an error, never a wait;
- install hints name installs that work for a source install (never `pip install 'tfforge[...]'`,
  which needs tfforge on an index);
- TensorFlow's converter logging (`fully_quantize: 0 ...`, XNNPack, absl) does not reach the terminal
  of `tfforge convert ... --quantize int8`."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

GRAPH = bytes([0x0A, 0x09, 0x0A, 0x01]) + b"a" + bytes([0x12, 0x04]) + b"NoOp"
ROOT = Path(__file__).resolve().parents[1]

WRITES = {
    "python atomic_write": "from tfforge import _io; _io.write_bytes(OUT + '/out.bin', b'x')",
    "native graph save": f"from tfforge.graph import Graph; Graph.from_bytes({GRAPH!r}).save(OUT + '/out.pb')",
    "native checkpoint": ("import numpy as np, tfforge.checkpoint as ck; "
                          "ck.write(OUT + '/m', {'w': np.ones(3, np.float32)}, state_file=False)"),
    "native records shard": ("import numpy as np; from tfforge import records; "
                             "records.write({'x': np.arange(3)}, OUT + '/ds', progress=False)"),
}


def _strace_works() -> bool:
    if not shutil.which("strace"):
        return False
    return subprocess.run(["strace", "-o", "/dev/null", "true"], capture_output=True).returncode == 0


@pytest.mark.skipif(not _strace_works(), reason="needs a working strace")
@pytest.mark.parametrize("write", list(WRITES))
def test_outputs_are_fsynced_then_renamed_then_the_directory_is_fsynced(tmp_path, write):
    trace = tmp_path / "trace.txt"
    out = tmp_path / "out"
    out.mkdir()
    code = f"OUT = {str(out)!r}\n" + WRITES[write]
    subprocess.run(["strace", "-f", "-qq", "-e", "trace=openat,fsync,fdatasync,rename,renameat,renameat2,close",
                    "-o", str(trace), sys.executable, "-c", code], check=True, capture_output=True, timeout=300)
    lines = trace.read_text().splitlines()
    renames = [i for i, ln in enumerate(lines) if re.search(r"rename(at2?)?\(.*\.tmp-\d+-[0-9a-f]{16}", ln)]
    assert renames, "no rename of a temporary file"
    for i in renames:
        temp = re.search(r'"([^"]*\.tmp-\d+-[0-9a-f]{16})"', lines[i]).group(1)
        opened = [j for j in range(i) if f'"{temp}"' in lines[j] and "openat(" in lines[j]]
        assert opened and "O_EXCL" in lines[opened[0]] and "O_NOFOLLOW" in lines[opened[0]], lines[opened[0]]
        fd = re.search(r"= (\d+)$", lines[opened[0]]).group(1)
        pid = lines[opened[0]].split()[0]
        synced = [j for j in range(opened[0], i) if lines[j].startswith(pid) and re.search(rf"f(data)?sync\({fd}\)", lines[j])]
        assert synced, f"{temp} renamed without an fsync of its data"
        directory = os.path.dirname(temp) or "."
        dir_opens = [j for j in range(i, len(lines)) if lines[j].startswith(pid) and "O_DIRECTORY" in lines[j]
                     and f'"{directory}' in lines[j]]
        assert dir_opens, f"the directory of {temp} was not opened after the rename"
        dfd = re.search(r"= (\d+)$", lines[dir_opens[0]]).group(1)
        assert any(re.search(rf"fsync\({dfd}\)", ln) for ln in lines[dir_opens[0]:] if ln.startswith(pid)), \
            f"the directory of {temp} was not fsync'd after the rename"


def _fifo_readers(fifo: str) -> dict:
    return {
        "graph.load": f"import tfforge.graph as tg; tg.load({fifo!r})",
        "checkpoint.open": f"import tfforge.checkpoint as ck; ck.open({fifo!r}).names()",
        "formats.detect": f"from tfforge import formats; formats.detect({fifo!r})",
        "records.count": f"from tfforge import records; records.count({fifo!r})",
        "records.read": f"from tfforge import records; next(iter(records.read({fifo!r})))",
        "inspect": f"from tfforge.cli.main import main; import sys; sys.exit(main(['inspect', {fifo!r}]) and 7)",
    }


@pytest.mark.parametrize("reader", list(_fifo_readers("x")))
def test_a_fifo_is_refused_by_the_api_not_waited_on(tmp_path, reader):
    """Nobody writes to the FIFO: a reader that opened it for reading would wait forever."""
    fifo = str(tmp_path / "model.pb")
    os.mkfifo(fifo)
    code = textwrap.dedent(f"""
        import sys
        from tfforge.errors import TfforgeError
        try:
            {_fifo_readers(fifo)[reader]}
        except TfforgeError as exc:
            print("refused:", exc)
            sys.exit(0)
        except SystemExit as exc:
            sys.exit(0 if exc.code == 7 else 3)
        sys.exit(2)
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, (proc.returncode, proc.stdout, proc.stderr[-2000:])


def test_install_hints_name_source_installs_not_an_index_extra():
    """The hint `pip install 'tfforge[bench]'` does not work for tfforge installed from source."""
    bad = []
    for path in (ROOT / "python" / "tfforge").rglob("*.py"):
        if "templates" in path.parts:
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if re.search(r"pip install\s+['\"]?tfforge\[", line):
                bad.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert not bad, "\n".join(bad)
    from tfforge.cli.main import _INSTALL
    for module, hint in _INSTALL.items():
        assert "tfforge[" not in hint, hint


def test_converter_logging_does_not_reach_the_terminal(tmp_path):
    """`tfforge convert m.keras m.tflite --quantize int8` printed TensorFlow's and TFLite's logging
    (absl warnings, `fully_quantize: 0, inference_type: 6 ...`, the XNNPack delegate line), some of it
    twice. Now stderr holds nothing and stdout only tfforge's report."""
    pytest.importorskip("tensorflow")
    keras = pytest.importorskip("keras")
    keras.utils.set_random_seed(3)
    inp = keras.Input((4,), name="x")
    keras.Model(inp, keras.layers.Dense(2)(inp)).save(tmp_path / "m.keras")
    np.savez(tmp_path / "calib.npz", x=np.random.default_rng(0).standard_normal((8, 4)).astype(np.float32))
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "TFFORGE_DEBUG")}
    proc = subprocess.run([sys.executable, "-m", "tfforge", "convert", str(tmp_path / "m.keras"),
                           str(tmp_path / "m.tflite"), "--quantize", "int8", "--representative",
                           str(tmp_path / "calib.npz")], capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stderr == "", proc.stderr[-3000:]
    # TensorFlow's and TFLite's own lines (tfforge's report may mention XNNPack itself, in its own words)
    for noise in ("fully_quantize", "Created TensorFlow Lite XNNPACK delegate", "absl::", "oneDNN", "W0000", "I0000"):
        assert noise not in proc.stdout, proc.stdout
