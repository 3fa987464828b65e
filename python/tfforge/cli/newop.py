"""`tfforge new-op NAME`: a standalone project for one custom op, built with `pip install --no-build-isolation`."""

from __future__ import annotations


def register(subparsers):
    p = subparsers.add_parser(
        "new-op", help="write a project for your own TensorFlow op (C++ kernel, loader, tests, benchmark)",
        description="Writes a project for the op NAME: pyproject.toml (scikit-build-core) and a CMakeLists.txt using "
                    "tfforge's CMake package, the op's registration, shape function and CPU kernel, a Python loader, "
                    "tests (tfforge.testing) and a benchmark (tfforge bench op). Build it with: "
                    "pip install --no-build-isolation DIR")
    p.add_argument("name", metavar="NAME", help="snake_case op name, e.g. bias_swish (the op registers as BiasSwish)")
    p.add_argument("--dir", metavar="DIR", help="directory to create (default: ./NAME)")
    p.add_argument("--cuda", action="store_true", help="add a CUDA kernel (compiled when nvcc is found)")
    p.add_argument("--grad", action="store_true", help="register a gradient")
    p.add_argument("--keras", action="store_true", help="add a Keras layer using the op")
    p.set_defaults(func=run)


def run(args) -> int:
    from tfforge.scaffold import write_project

    files = write_project(args.name, args.dir, cuda=args.cuda, grad=args.grad, keras=args.keras)
    root = files[0].parent
    print(f"wrote {len(files)} files into {root}")
    print(f"build and test: cd {root} && pip install --no-build-isolation . && python -m pytest tests")
    return 0
