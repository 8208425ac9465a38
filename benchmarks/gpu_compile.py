"""Compile every GPU kernel for a real NVIDIA target, without a GPU: a table and JSON.

numba's CUDA simulator (the tests') runs the kernels as Python: it never compiles them for a
GPU, so a kernel that the CUDA target cannot type or lower passes every test and fails on
the first GPU. This script runs a small scenario on the simulator, records the types of
every kernel launch (the pass, the fields, the noise of fights, the named characters' log,
the cars' first zombie, a trigger's check, the sort by cell), then compiles each kernel to
PTX for a compute capability (9.0: H100 and H200) with ``numba.cuda.compile_ptx``, which
needs NVIDIA's compiler libraries but no driver or GPU::

    pip install "seoulfall[gpu]" nvidia-cuda-nvcc-cu12 nvidia-cuda-nvrtc-cu12
    python benchmarks/gpu_compile.py [--cc 9.0] [--out benchmarks/results/gpu_compile.json]

Exit status 1 if a kernel does not compile.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import subprocess
import sys
import time
from pathlib import Path

#: The launchers of ``seoulfall.engine.gpu`` (``_each``) and the pass kernel, by name.
LAUNCHERS = ("_fields", "_noise_fade", "_noise", "_cast", "_first_car", "_zombie_in",
             "_scan_sums", "_scan_firsts", "_scan_places")
#: The kernels launched as ``kernel[config](...)``.
KERNELS = ("_pass", "_sort_count", "_sort_scatter")

RECORD = r"""
import pickle, sys
import numba
import numpy as np
from numba import config
assert config.ENABLE_CUDASIM
from seoulfall import Scenario
from seoulfall.engine import gpu
from seoulfall.simulation import Simulation

seen = {}

def typed(x):
    return numba.typeof(gpu._unwrap(x))

def recorder(name, launch):
    def run(n, args, out, stream):
        seen[name] = (numba.types.int64, typed(args), typed(out))
        return launch(n, args, out, stream)
    return run

class KernelRecorder:
    def __init__(self, name, kernel):
        self.name, self.kernel = name, kernel
    def __getitem__(self, config):
        def run(*args):
            seen[self.name] = tuple(typed(a) for a in args)
            return self.kernel[config](*args)
        return run

for name in sys.argv[2].split(","):
    setattr(gpu, name, recorder(name, getattr(gpu, name)))
for name in sys.argv[3].split(","):
    setattr(gpu, name, KernelRecorder(name, getattr(gpu, name)))
events = [{"type": "public_alert", "trigger": "first_zombie_north"}]
cast = [{"name": "Cheong-san", "district": "Gangnam-gu"}]
sc = Scenario.load("seoul-falls", {"population.scale": 0.0001, "time.days": 0.01,
                                   "noise.fight_loudness": 1.0, "events": events,
                                   "cast": cast, "engine.sort_every": 4})
Simulation(sc, seed=1, backend="gpu").run()
with open(sys.argv[1], "wb") as f:
    pickle.dump(seen, f)
"""


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cc", default="9.0", help="compute capability to compile for")
    ap.add_argument("--out", default="benchmarks/results/gpu_compile.json")
    args = ap.parse_args(argv)
    cc = tuple(int(x) for x in args.cc.split("."))
    sigs = Path(args.out).with_suffix(".pickle")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    subprocess.run([sys.executable, "-c", RECORD, str(sigs), ",".join(LAUNCHERS),
                    ",".join(KERNELS)], env=env, check=True)  # fmt: skip
    with open(sigs, "rb") as f:
        seen = pickle.load(f)
    sigs.unlink()

    from types import SimpleNamespace

    from numba import cuda

    from seoulfall.engine import gpu

    # a device function that is not inlined asks the current device for its compute
    # capability, which needs a driver: answer for it
    try:
        import numba.cuda.dispatcher as dispatcher

        device = SimpleNamespace(compute_capability=cc)
        dispatcher.get_current_device = lambda: device
    except (ImportError, AttributeError):  # numba-cuda without that indirection
        pass

    rows, failed = [], 0
    print(f"{'kernel':<12} {'compiled':>9} {'seconds':>8}  PTX lines")
    for name in (*KERNELS, *LAUNCHERS):
        kernel = getattr(gpu, name) if name in KERNELS else getattr(gpu, name).kernel
        if name not in seen:
            rows.append({"kernel": name, "compiled": False, "why": "not launched"})
            failed += 1
            print(f"{name:<12} {'no':>9}  (not launched by the scenario)")
            continue
        t0 = time.perf_counter()
        try:
            ptx, _ = cuda.compile_ptx(kernel.py_func, seen[name], cc=cc)
            ok, why = True, ""
        except Exception as exc:  # noqa: BLE001 - reported in the table
            ptx, ok, why = "", False, f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
        dt = time.perf_counter() - t0
        failed += not ok
        rows.append({"kernel": name, "compiled": ok, "seconds": round(dt, 2),
                     "ptx_lines": ptx.count("\n"), "why": why})  # fmt: skip
        print(f"{name:<12} {'yes' if ok else 'NO':>9} {dt:8.2f}  {ptx.count(chr(10))} {why}")
    Path(args.out).write_text(json.dumps({"cc": args.cc, "kernels": rows}, indent=1) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
