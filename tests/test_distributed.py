"""Real DDP on this CPU (gloo): one MLflow run per job whatever the number of ranks, in single runs, sweeps and
torchrun launches, with the same results as one process on the same global batch."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from tests.conftest import cli, cnnlab, free_port, migrated_store

# Augmentation off (each rank draws its own), a fixed number of steps on the same global batch of 64.
COMMON = [
    "trainer=ddp", "trainer.accelerator=cpu", "trainer.deterministic=true", "trainer.max_epochs=2",
    "+trainer.limit_train_batches=4", "trainer.enable_progress_bar=false", "tracking.log_model=false",
    "tracking.explain_images=0",
    "data.augment=[]", "data.batch_augment=[]",  # the same samples on 1 and 2 ranks: no random draws
]  # fmt: skip


def runs(store: str) -> list:
    client = MlflowClient(store)
    return client.search_runs([client.get_experiment_by_name("classification").experiment_id])


def test_two_ranks_log_one_run_equal_to_one_process_on_the_same_global_batch(tmp_path: Path, capfd,
                                                                            monkeypatch) -> None:
    results = {}
    monkeypatch.chdir(tmp_path)
    for devices, batch in ((1, 64), (2, 32)):
        store = migrated_store(tmp_path / f'{devices}.db')
        if devices == 1:  # one process, this one, on one device: what two ranks of 32 must equal
            single = [item for item in COMMON if item != "trainer=ddp"]  # trainer=cpu: one device, no process group
            result = cli(capfd, "train", *single, f"data.batch_size={batch}", store=store)
        else:
            result = cnnlab("train", *COMMON, "trainer.devices=2", f"data.batch_size={batch}", cwd=tmp_path,
                            store=store)  # fmt: skip
        assert result.returncode == 0, result.stderr[-3000:]
        (run,) = runs(store)  # one run, however many ranks
        results[devices] = run
    two = results[2]
    digests = two.data.tags["cnnlab.ddp.config_digests"].split(",")
    assert two.data.tags["cnnlab.world_size"] == "2" and len(digests) == 2 and len(set(digests)) == 1
    for key in ("val/acc", "test/acc"):
        assert two.data.metrics[key] == pytest.approx(results[1].data.metrics[key], abs=0.01), key
    assert two.data.metrics["test/loss"] == pytest.approx(results[1].data.metrics["test/loss"], rel=1e-3)
    assert len(list((tmp_path / "outputs" / "runs").glob("*/*"))) == 2  # one folder per job, none per rank


def test_ddp_inside_a_multirun_gives_each_job_one_run(tmp_path: Path) -> None:
    store = migrated_store(tmp_path / 'mlflow.db')
    result = cnnlab("train", "-m", *COMMON, "trainer.max_epochs=1", "seed=1,2", cwd=tmp_path, store=store)
    assert result.returncode == 0, result.stderr[-3000:]
    found = runs(store)
    children = [r for r in found if "mlflow.parentRunId" in r.data.tags]
    assert len(found) == 3 and sorted(c.data.params["seed"] for c in children) == ["1", "2"]
    assert all(c.data.tags["cnnlab.world_size"] == "2" and c.info.status == "FINISHED" for c in children)
    (sweep_dir,) = (tmp_path / "outputs" / "multirun").glob("*/*")
    assert sorted(p.name for p in sweep_dir.iterdir() if p.is_dir()) == ["0", "1"]  # no sweep re-run by rank 1


def test_torchrun_two_nodes_on_one_machine_make_one_run(tmp_path: Path) -> None:
    store = migrated_store(tmp_path / 'mlflow.db')
    torchrun = str(Path(sys.executable).with_name("torchrun"))
    port = free_port()
    env = {**os.environ, "MLFLOW_TRACKING_URI": store}
    nodes = [
        subprocess.Popen(
            [
                torchrun,
                "--nnodes=2",
                "--nproc-per-node=1",
                f"--node-rank={rank}",
                "--master-addr=127.0.0.1",
                f"--master-port={port}",
                "-m",
                "cnnlab.cli",
                "train",
                *COMMON,
                "trainer.devices=1",
                "trainer.num_nodes=2",
                "trainer.max_epochs=1",
            ],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )  # fmt: skip
        for rank in (0, 1)
    ]
    outputs = [node.communicate(timeout=600)[0] for node in nodes]
    assert [node.returncode for node in nodes] == [0, 0], outputs[0][-3000:] + outputs[1][-3000:]
    (run,) = runs(store)
    assert run.info.status == "FINISHED" and run.data.tags["cnnlab.world_size"] == "2"
