"""tfforge.records and tfforge.graph import and work with TensorFlow absent; the parts that need it
say so clearly."""


def test_records_and_graph_work_without_tensorflow(python_runner):
    out = python_runner("""
        import sys
        import tfforge, tfforge.records, tfforge.graph
        assert tfforge.records.crc32c(b"123456789") == 0xE3069283
        assert "tensorflow" not in sys.modules
        print("ok")
    """, block_tensorflow=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_tensorflow_blocker_really_blocks(python_runner):
    out = python_runner("import tensorflow", block_tensorflow=True)
    assert out.returncode != 0 and "blocked by test" in out.stderr


def test_ops_without_tensorflow_raise_a_clear_error(python_runner):
    out = python_runner("""
        try:
            import tfforge.ops
        except ImportError as exc:
            print(type(exc).__name__ + ": " + str(exc))
    """, block_tensorflow=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("TensorFlowNotInstalled: ")
    assert "pip install" in out.stdout


def test_doctor_without_tensorflow(python_runner):
    out = python_runner("""
        import sys
        from tfforge.cli.main import main
        sys.exit(main(["doctor", "--json"]))
    """, block_tensorflow=True)
    assert out.returncode == 0, out.stderr
    import json
    rep = json.loads(out.stdout)
    assert rep["tensorflow_version"] == "not installed"
    assert rep["ops_loaded"] is False and rep["gpus"] == []


def test_cli_command_needing_tensorflow_is_exit_3_naming_the_install(python_runner):
    out = python_runner("""
        import sys
        from tfforge.cli.main import main
        sys.exit(main(["bench", "ops", "--op", "rms_norm", "--shape", "8x8", "--reps", "1"]))
    """, block_tensorflow=True)
    assert out.returncode == 3, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tfforge: error: ") and "pip install" in lines[0], out.stderr
    assert "Traceback" not in out.stderr
