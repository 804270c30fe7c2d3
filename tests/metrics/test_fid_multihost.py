"""FID statistics gathered across hosts: 2 processes x 2 CPU devices (jax.distributed over gloo) end with
the same statistics, on both hosts, as pytorch-fid's np.mean / np.cov of all features."""

import json
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from tests import xla_env

SCRIPT = textwrap.dedent("""
    import json, os, sys
    pid, port = int(sys.argv[1]), sys.argv[2]
    import jax
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(coordinator_address=f"127.0.0.1:{port}", num_processes=2, process_id=pid,
                               initialization_timeout=300)
    import numpy as np
    from facejax.metrics import fid
    from facejax.train import mesh as mesh_lib
    x = np.random.default_rng(0).normal(size=(37, 16)).astype(np.float32) + 1.0
    mesh = mesh_lib.make_mesh()
    ext = fid.Extractor(lambda s, rows: rows * s, np.float32(2.0), mesh)  # a jitted "network", sharded
    seen = []
    def load(idx):  # this process's rows of each global batch
        seen.extend(i for i in idx if i >= 0)
        return x[[i if i >= 0 else 0 for i in idx]]
    st = fid.stats_of(len(x), load, ext, 8, 16)
    print(json.dumps({"devices": int(mesh.devices.size), "n": st.n, "seen": seen,
                      "mu": st.mu.tolist(), "sigma": st.sigma.tolist()}), flush=True)
""")


@pytest.mark.slow
def test_two_hosts_gather_the_same_statistics(repo_root):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = xla_env.env(2, PYTHONPATH=str(repo_root))
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", SCRIPT, str(i), str(port)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for i in range(2)
    ]
    outs = [p.communicate(timeout=600) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err[-3000:]
    res = [json.loads(out.strip().splitlines()[-1]) for out, _ in outs]
    x = 2.0 * (np.random.default_rng(0).normal(size=(37, 16)).astype(np.float32) + 1.0)
    assert sorted(res[0]["seen"] + res[1]["seen"]) == list(range(37))  # each image read by one host
    for r in res:
        assert r["devices"] == 4 and r["n"] == 37
        np.testing.assert_allclose(r["mu"], x.mean(0), rtol=1e-6)
        np.testing.assert_allclose(r["sigma"], np.cov(x, rowvar=False), rtol=1e-6, atol=1e-12)
    assert res[0]["sigma"] == res[1]["sigma"]
