"""Fills the op project templates: ``{{name}}`` (snake_case), ``{{Name}}`` (the op's CamelCase name),
``{{tfforge_version}}``, and blocks kept only with a flag (``{{#cuda}}...{{/cuda}}``) or without it
(``{{^cuda}}...{{/cuda}}``)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import tfforge
from tfforge._io import atomic_directory
from tfforge.errors import TfforgeError

TEMPLATES = Path(__file__).resolve().parent / "templates"
_NAME = re.compile(r"[a-z][a-z0-9]*(_[a-z][a-z0-9]*)*")
MAX_NAME = 32

# output path (with placeholders) -> (template file, flag the file needs or None)
FILES = {
    "pyproject.toml": ("pyproject.toml", None),
    "CMakeLists.txt": ("CMakeLists.txt", None),
    "README.md": ("README.md", None),
    ".gitignore": ("gitignore", None),
    "cc/{{name}}_op.cc": ("op.cc", None),
    "cc/{{name}}_kernel.h": ("kernel.h", "cuda"),
    "cc/{{name}}_kernel.cu": ("kernel.cu", "cuda"),
    "src/{{name}}/__init__.py": ("package_init.py", None),
    "src/{{name}}/ops.py": ("ops.py", None),
    "src/{{name}}/layers.py": ("layers.py", "keras"),
    "tests/test_{{name}}.py": ("test_op.py", None),
    "benchmarks/bench_{{name}}.py": ("bench_op.py", None),
}


@dataclass(frozen=True)
class OpName:
    name: str  # snake_case: the Python package, module function and library name

    @property
    def camel(self) -> str:  # the op's TensorFlow name; TensorFlow's Python wrapper is `name` again
        return "".join(part.capitalize() for part in self.name.split("_"))

    @classmethod
    def parse(cls, text: str) -> "OpName":
        if not _NAME.fullmatch(text) or len(text) > MAX_NAME:
            raise TfforgeError(f"bad op name {text!r}: use snake_case letters and digits, each part starting with "
                               f"a letter, at most {MAX_NAME} characters (e.g. bias_swish)")
        return cls(text)


def render(text: str, name: OpName, flags: dict[str, bool]) -> str:
    def block(m: re.Match) -> str:
        negate, flag, body = m.group(1) == "^", m.group(2), m.group(3)
        if flag not in flags:
            raise KeyError(f"template uses unknown flag {flag!r}")
        return body if flags[flag] != negate else ""

    # A tag alone on its line takes the line with it.
    text = re.sub(r"^[ \t]*(\{\{[#^/]\w+\}\})[ \t]*\n", r"\1", text, flags=re.M)
    previous = None
    while previous != text:  # blocks may nest
        previous = text
        text = re.sub(r"\{\{([#^])(\w+)\}\}(.*?)\{\{/\2\}\}", block, text, flags=re.S)
    return (text.replace("{{name}}", name.name).replace("{{Name}}", name.camel)
            .replace("{{tfforge_version}}", tfforge.__version__))


def _check_not_a_builtin(name: OpName) -> None:
    try:
        from tensorflow.python.framework import op_def_registry
    except ImportError:
        return
    if op_def_registry.get(name.camel) is not None:
        raise TfforgeError(f"op name {name.name!r} would register {name.camel!r}, which TensorFlow already has; "
                           "choose another name")


def write_project(name: str, directory=None, cuda: bool = False, grad: bool = False, keras: bool = False) -> list[Path]:
    """Writes the project for op ``name`` into ``directory`` (default ./<name>, which must not exist or be
    empty); returns the files written."""
    op = OpName.parse(name)
    _check_not_a_builtin(op)
    root = Path(directory) if directory is not None else Path.cwd() / op.name
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise TfforgeError(f"{root} already exists and is not an empty directory; choose another --dir")
    flags = {"cuda": cuda, "grad": grad, "keras": keras}
    written = []
    # Built in a temporary directory beside `root`, which appears only complete (never half a project).
    with atomic_directory(root) as tmp:
        for out, (template, needs) in FILES.items():
            if needs and not flags[needs]:
                continue
            relative = render(out, op, flags)
            path = Path(tmp) / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            text = render((TEMPLATES / template).read_text(), op, flags)
            text = re.sub(r"\n{3,}", "\n\n\n", text)  # blocks left out leave no runs of blank lines
            path.write_text(text)
            if path.suffix == ".py" and path.parent.name == "benchmarks":
                os.chmod(path, 0o755)
            written.append(root / relative)
    return written
