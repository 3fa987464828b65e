#!/usr/bin/env bash
# Builds tfforge._native with AddressSanitizer + UndefinedBehaviorSanitizer (its own build directory,
# no TensorFlow, no _ops.so) and runs under it: every fuzz target's corpus (tests/fuzz/<area>.py with
# tests/fuzz/corpus/<area>/), the threading tests (tests/test_*thread*.py), then each fuzz target for
# a while. Exits non-zero on any sanitizer report, crash or fuzzer finding. See docs/fuzzing.md.
#
#   tools/sanitize.sh                      # the default run (about 5 minutes), as .ci/run calls it
#   FUZZ_SECONDS=3600 FUZZ_JOBS=2 tools/sanitize.sh   # an hour per target, two targets at a time
#
# Environment: PYTHON (default .venv/bin/python, else python3; needs numpy, pytest, atheris, pybind11,
# cmake), FUZZ_SECONDS (per target, default 60), FUZZ_SEED (libFuzzer's -seed; unset: a new one each run), FUZZ_JOBS (targets fuzzed at once, default 2),
# SANITIZE_BUILD (build directory, default build/sanitize), SANITIZE_OUT (logs and crash inputs,
# default $SANITIZE_BUILD/out).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

if [ -z "${PYTHON:-}" ]; then
  if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
FUZZ_JOBS=${FUZZ_JOBS:-2}
build=${SANITIZE_BUILD:-build/sanitize}
out=${SANITIZE_OUT:-$build/out}
mkdir -p "$build" "$out"
build=$(cd "$build" && pwd)
out=$(cd "$out" && pwd)

# --- build -------------------------------------------------------------------------------------
flags="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize=vptr -fno-sanitize-recover=all"
pybind11_dir=$("$PYTHON" -c 'import pybind11; print(pybind11.get_cmake_dir())')
# cmake and ninja from the Python environment when it has them (requirements/build.txt)
PATH="$(dirname "$(command -v "$PYTHON")"):$PATH"
cmake_bin=$(command -v cmake)
echo "sanitize: building _native with ASan + UBSan in $build"
"$cmake_bin" -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS="$flags" -DCMAKE_MODULE_LINKER_FLAGS="-fsanitize=address,undefined" \
  -DCMAKE_SHARED_LINKER_FLAGS="-fsanitize=address,undefined" -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" \
  -DTFFORGE_OPS=OFF -DTFFORGE_CUDA=OFF -DTFFORGE_KERNEL_BENCH=OFF \
  -DPython_EXECUTABLE="$(command -v "$PYTHON")" -Dpybind11_DIR="$pybind11_dir" >"$out/cmake.log" 2>&1 \
  || { tail -30 "$out/cmake.log"; exit 1; }
"$cmake_bin" --build "$build" --target _native >"$out/build.log" 2>&1 || { tail -40 "$out/build.log"; exit 1; }

# A package directory holding the Python sources and the sanitized module; tools/sanitize_launch.py
# puts it first on sys.path (past an editable install's import hook).
stage=$build/stage
rm -rf "$stage" && mkdir -p "$stage"
cp -r python/tfforge "$stage/tfforge"
find "$stage/tfforge" \( -name '_native*.so' -o -name '_ops*.so' -o -name '__pycache__' \) -prune -exec rm -rf {} +
cp "$build"/_native*.so "$stage/tfforge/"

# --- runtime: the ASan runtime must be the first library of the process, so a Python process gets it
# through LD_PRELOAD (gcc's libasan here; libubsan comes in as _native's dependency) -------------
asan_rt=$(${CXX:-c++} -print-file-name=libasan.so)
[ -f "$asan_rt" ] || { echo "sanitize: no libasan.so from ${CXX:-c++}" >&2; exit 1; }
# libstdc++ too: ASan finds the real __cxa_throw only in libraries loaded when it starts, and the
# Python executable does not link libstdc++ (without it the first C++ exception aborts in ASan).
cxx_rt=$(${CXX:-c++} -print-file-name=libstdc++.so)
# CPython frees little at exit (leaks are not findings); SIGBUS/SIGSEGV handlers of tfforge and
# Python stay in charge and chain to ASan's.
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:allow_user_segv_handler=1:handle_abort=1:symbolize=1:strict_string_checks=0:detect_stack_use_after_return=0"
export UBSAN_OPTIONS="halt_on_error=1:abort_on_error=1:print_stacktrace=1:report_error_type=1"
export TF_CPP_MIN_LOG_LEVEL=3
launch=(env -u PYTHONPATH LD_PRELOAD="$asan_rt $cxx_rt" "$PYTHON" "$root/tools/sanitize_launch.py" "$stage")

failed=0
excerpt() {  # the start of the first report in a log, else its end
  grep -m1 -A25 -E "ERROR: |CHECK failed|runtime error:|Uncaught Python exception|Traceback" "$1" || tail -25 "$1"
}
report() {  # log name: fail when the log holds a sanitizer report
  if grep -qE "ERROR: AddressSanitizer|runtime error:|ERROR: UndefinedBehaviorSanitizer|ERROR: LeakSanitizer" "$1"; then
    echo "sanitize: $2: sanitizer report in $1:" >&2
    failed=1
  fi
}

"${launch[@]}" -c "import tfforge._native as n, sys; assert n.__file__.startswith('$stage'), n.__file__" \
  || { echo "sanitize: the sanitized module did not load" >&2; exit 1; }

targets=()
for t in tests/fuzz/[!_]*.py; do
  area=$(basename "$t" .py)
  [ -d "tests/fuzz/corpus/$area" ] || { echo "sanitize: $t has no corpus tests/fuzz/corpus/$area" >&2; exit 1; }
  targets+=("$area")
done

# --- corpora: every kept input once ---------------------------------------------------------------
for area in "${targets[@]}"; do
  log=$out/corpus-$area.log
  echo "sanitize: corpus $area"
  if ! "${launch[@]}" "tests/fuzz/$area.py" -runs=0 -rss_limit_mb=4096 "tests/fuzz/corpus/$area" >"$log" 2>&1; then
    echo "sanitize: corpus $area failed:" >&2; excerpt "$log" >&2; failed=1
  fi
  report "$log" "corpus $area"
done

# --- threading tests ------------------------------------------------------------------------------
thread_tests=(tests/test_*thread*.py)
if [ -e "${thread_tests[0]}" ]; then
  echo "sanitize: ${thread_tests[*]}"
  log=$out/threads.log
  if ! "${launch[@]}" -m pytest -q -p no:cacheprovider "${thread_tests[@]}" >"$log" 2>&1; then
    echo "sanitize: threading tests failed:" >&2; excerpt "$log" >&2; failed=1
  fi
  report "$log" "threading tests"
fi

# --- fuzzing: each target for FUZZ_SECONDS, FUZZ_JOBS at a time ------------------------------------
fuzz() {
  local area=$1 work=$out/fuzz-$1
  rm -rf "$work" && mkdir -p "$work/corpus"
  "${launch[@]}" "tests/fuzz/$area.py" -max_total_time="$FUZZ_SECONDS" -rss_limit_mb=4096 -timeout=60 ${FUZZ_SEED:+-seed=$FUZZ_SEED} \
    -artifact_prefix="$work/" "$work/corpus" "tests/fuzz/corpus/$area" >"$out/fuzz-$area.log" 2>&1
}
echo "sanitize: fuzzing ${targets[*]} for ${FUZZ_SECONDS}s each, $FUZZ_JOBS at a time"
pids=() names=()
for area in "${targets[@]}"; do
  fuzz "$area" & pids+=($!) names+=("$area")
  if [ "${#pids[@]}" -ge "$FUZZ_JOBS" ]; then
    wait "${pids[0]}" || { echo "sanitize: fuzz ${names[0]} failed:" >&2; excerpt "$out/fuzz-${names[0]}.log" >&2; failed=1; }
    pids=("${pids[@]:1}") names=("${names[@]:1}")
  fi
done
for i in "${!pids[@]}"; do
  wait "${pids[$i]}" || { echo "sanitize: fuzz ${names[$i]} failed:" >&2; excerpt "$out/fuzz-${names[$i]}.log" >&2; failed=1; }
done
for area in "${targets[@]}"; do
  report "$out/fuzz-$area.log" "fuzz $area"
  for a in "$out/fuzz-$area"/crash-* "$out/fuzz-$area"/timeout-* "$out/fuzz-$area"/oom-*; do
    [ -e "$a" ] && { echo "sanitize: fuzz $area found $a" >&2; failed=1; }
  done
  grep -h "^Done\|stat::number_of_executed_units" "$out/fuzz-$area.log" | head -1 | sed "s/^/sanitize: $area: /" || true
done

if [ "$failed" -ne 0 ]; then
  echo "sanitize: FAILED (logs in $out)" >&2
  exit 1
fi
echo "sanitize: ok (logs in $out)"
