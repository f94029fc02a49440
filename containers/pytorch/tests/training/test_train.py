"""The training entrypoint end to end: the SageMaker contract, accuracy, two processes, spot resume, failures.

The digits runs here are real training runs (12 epochs of the default network, a few seconds each on
one thread); their test accuracy is the issue's goal: at least 0.97 on the fixed split.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from pytorch_container import artifact, checkpoints, data, engines

GOAL = 0.97


@pytest.fixture(scope="module")
def single(tmp_path_factory, training_job) -> tuple:
    """The default job (no hyperparameters, no channel) trained once in this process; the job and its log."""
    job = training_job(tmp_path_factory.mktemp("single"))
    with pytest.MonkeyPatch.context() as patch, _LogCapture() as log:
        assert job.run(patch) == 0, job.failure.read_text() if job.failure.exists() else "no failure file"
    return job, log.text


class _LogCapture:
    """Collects the records of the `pytorch_container` loggers (caplog is function-scoped)."""

    def __enter__(self) -> _LogCapture:
        import logging

        self.records: list[str] = []
        self.handler = logging.Handler()
        self.handler.emit = lambda record: self.records.append(record.getMessage())  # type: ignore[method-assign]
        self.logger = logging.getLogger("pytorch_container")
        self.logger.addHandler(self.handler)
        self.logger.setLevel(logging.INFO)
        return self

    def __exit__(self, *exc: object) -> None:
        self.logger.removeHandler(self.handler)

    @property
    def text(self) -> str:
        return "\n".join(self.records)


def test_the_default_job_reaches_the_accuracy_goal_with_every_engine(single) -> None:
    job, _ = single
    metrics = job.metrics()
    assert metrics["data"].startswith("scikit-learn digits") and metrics["world_size"] == 1
    assert set(metrics["test_accuracy"]) == set(engines.ENGINES)
    for engine, score in metrics["test_accuracy"].items():
        assert score >= GOAL, f"{engine}: test accuracy {score:.4f} below {GOAL}"
    assert metrics["int8_accuracy_drop_pts"] <= 1.0


def test_the_artifact_holds_every_file_and_the_class_names(single) -> None:
    job, _ = single
    for name in (*engines.ENGINE_FILES.values(), artifact.METADATA_FILE, artifact.METRICS_FILE):
        assert (job.model / name).is_file(), name
    assert (job.model / "code" / "inference.py").is_file()
    assert (job.model / "code" / "pytorch_container" / "predictor.py").is_file()
    metadata = artifact.read_metadata(job.model)
    assert metadata.class_names == [str(d) for d in range(10)] and metadata.preprocessing.input_shape == (1, 8, 8)
    sizes = job.metrics()["file_bytes"]
    assert sizes[artifact.ONNX_INT8_FILE] < sizes[artifact.ONNX_FILE] / 2


def test_the_device_and_its_reason_are_logged_and_checkpoints_are_left(single) -> None:
    job, log = single
    assert "training on cpu: no CUDA device visible to torch; 1 host(s) x 1 process(es), backend gloo" in log
    assert "test_accuracy[onnx-int8]=" in log
    assert sorted(p.name for p in job.checkpoints.iterdir()) == ["checkpoint-epoch-0011.pt", "checkpoint-epoch-0012.pt"]


def test_two_cpu_processes_match_single_process_quality(tmp_path, monkeypatch, single, training_job) -> None:
    job = training_job(tmp_path / "two")
    job.hyperparameters({"processes_per_host": "2", "device": "cpu"})
    assert job.run(monkeypatch) == 0, job.failure.read_text() if job.failure.exists() else ""
    two = job.metrics()
    one = single[0].metrics()
    assert two["world_size"] == 2
    assert two["test_accuracy"]["eager"] >= GOAL
    assert abs(two["test_accuracy"]["eager"] - one["test_accuracy"]["eager"]) <= 0.015


def test_a_restarted_job_resumes_from_its_checkpoint_and_ends_where_an_uninterrupted_one_does(
    tmp_path, monkeypatch, caplog, training_job
) -> None:
    settings = {"epochs": "3", "seed": "7"}
    uninterrupted = training_job(tmp_path / "uninterrupted")
    uninterrupted.hyperparameters(settings)
    assert uninterrupted.run(monkeypatch) == 0
    restarted = training_job(tmp_path / "restarted")
    restarted.hyperparameters(settings)
    # The spot instance went away after epoch 2: its checkpoint is what SageMaker copies back.
    restarted.checkpoints.mkdir()
    shutil.copy(checkpoints.path_for(uninterrupted.checkpoints, 2), restarted.checkpoints)
    caplog.set_level("INFO")
    assert restarted.run(monkeypatch) == 0
    assert "resuming from the checkpoint of epoch 2 of 3" in caplog.text
    assert restarted.metrics()["resumed_from_epoch"] == 2
    a = torch.load(uninterrupted.model / artifact.WEIGHTS_FILE, weights_only=True)
    b = torch.load(restarted.model / artifact.WEIGHTS_FILE, weights_only=True)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_a_checkpoint_of_another_job_fails_the_job_with_the_reason(job, monkeypatch) -> None:
    job.hyperparameters({"epochs": "3"})
    checkpoints.save(job.checkpoints, 1, {"fingerprint": {"epochs": 9}, "class_names": []})
    assert job.run(monkeypatch) == 1
    assert "was written by a job with other settings (" in job.failure.read_text()
    assert "epochs 9 vs 3" in job.failure.read_text()


def test_an_image_folder_trains_with_its_own_classes(tmp_path, monkeypatch, training_job) -> None:
    job = training_job(tmp_path / "folder")
    pixels, labels = data.digits_pixels()
    names = ["zero", "one", "two"]
    keep = labels < 3
    data.write_folder(job.channel("train"), pixels[keep][:120], labels[keep][:120], names)
    data.write_folder(job.channel("validation"), pixels[keep][120:150], labels[keep][120:150], names)
    job.hyperparameters({"epochs": "2", "image_size": "8"})
    assert job.run(monkeypatch) == 0, job.failure.read_text() if job.failure.exists() else ""
    assert artifact.read_metadata(job.model).class_names == ["one", "two", "zero"]
    assert "test_accuracy" not in job.metrics()  # no test channel, no test figures


@pytest.mark.parametrize(
    ("hyperparameters", "reason"),
    [
        ({"epochs": "many"}, "training failed: hyperparameter epochs='many' is not an integer"),
        ({"learning_rte": "0.1"}, "training failed: unsupported hyperparameters ['learning_rte']"),
        ({"device": "cuda"}, "training failed: device=cuda requested but torch sees no CUDA device"),
        ({"device": "xla"}, "training failed: device=xla requested but no NeuronCore is visible"),
    ],
)
def test_a_bad_job_writes_its_reason_to_the_failure_file_and_exits_1(job, monkeypatch, hyperparameters, reason) -> None:
    job.hyperparameters(hyperparameters)
    assert job.run(monkeypatch) == 1
    assert job.failure.read_text().startswith(reason)
    assert not (job.model / artifact.WEIGHTS_FILE).exists()


def test_a_failing_spawned_process_reports_its_reason(job, monkeypatch) -> None:
    train = job.channel("train")
    (train / "a").mkdir()
    (train / "a" / "x.png").write_bytes(data.images.encode_png(np.zeros((8, 8), np.uint8)))
    (train / "b").mkdir()
    (train / "b" / "notes.txt").write_text("not an image")
    job.hyperparameters({"processes_per_host": "2", "device": "cpu"})
    assert job.run(monkeypatch) == 1
    assert "notes.txt is not an image this job reads" in job.failure.read_text()


def test_every_path_moves_with_its_own_variable(tmp_path, monkeypatch) -> None:
    from pytorch_container import paths

    env = {
        name: str(tmp_path / name)
        for name in ("SM_MODEL_DIR", "SM_INPUT_DATA_DIR", "SM_INPUT_CONFIG_DIR", "SM_OUTPUT_DIR", "SM_CHECKPOINT_DIR")
    }
    resolved = paths.resolve(env)
    assert resolved.model == Path(env["SM_MODEL_DIR"]) and resolved.checkpoints == Path(env["SM_CHECKPOINT_DIR"])
    assert resolved.hyperparameters == Path(env["SM_INPUT_CONFIG_DIR"]) / "hyperparameters.json"
    assert resolved.channel("train") == Path(env["SM_INPUT_DATA_DIR"]) / "train"
    assert resolved.failure == Path(env["SM_OUTPUT_DIR"]) / "failure"
    assert paths.resolve({}).model == Path("/opt/ml/model")
    assert json.loads(json.dumps(str(resolved.root)))  # the root itself defaults to /opt/ml


def test_two_hosts_rendezvous_through_sm_hosts_and_only_the_master_writes_the_model(tmp_path, training_job) -> None:
    """Two "hosts" on this machine (two names for the loopback interface), one process each: one job of 2."""
    import os
    import socket
    import subprocess
    import sys

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    hosts = ["127.0.0.1", "localhost"]  # sorted: 127.0.0.1 is the master
    jobs = {host: training_job(tmp_path / host) for host in hosts}
    processes = {}
    for host, job in jobs.items():
        job.hyperparameters({"epochs": "2", "device": "cpu"})
        env = {
            **os.environ,
            "SM_ML_ROOT": str(job.root),
            "SM_HOSTS": json.dumps(hosts),
            "SM_CURRENT_HOST": host,
            "MASTER_PORT": str(port),
            "OMP_NUM_THREADS": "1",
        }
        processes[host] = subprocess.Popen(
            [sys.executable, "-m", "pytorch_container.train"], env=env, stderr=subprocess.PIPE, text=True
        )
    logs = {host: process.communicate(timeout=300)[1] for host, process in processes.items()}
    for host, process in processes.items():
        assert process.returncode == 0, logs[host][-3000:]
    assert "2 host(s) x 1 process(es), backend gloo" in logs["localhost"]
    master, worker = jobs["127.0.0.1"], jobs["localhost"]
    assert master.metrics()["world_size"] == 2
    assert not worker.model.exists() and not worker.checkpoints.exists()
