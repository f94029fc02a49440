"""SageMaker training entrypoint of the PyTorch image (`pytorch-train`, run for `docker run IMAGE train`).

Follows the SageMaker training container contract (paths from `pytorch_container.paths`, each movable by
environment): hyperparameters as strings in `input/config/hyperparameters.json`
(`pytorch_container.hyperparameters`), data channels `train`, `validation`, `test` under `input/data/`
(`pytorch_container.data`; none: scikit-learn's digits), the artifact to `model/`
(`pytorch_container.artifact`), checkpoints in `checkpoints/` (`pytorch_container.checkpoints`: a
restarted spot job resumes), and on any error the reason in `output/failure` and exit status 1.

Distributed training with `torch.distributed` (`pytorch_container.runtime`): one process per device on
every host (gloo on CPU, NCCL on CUDA, torch-xla's `xla` backend on Trainium's NeuronCores), the global
batch split across them, gradients averaged by `DistributedDataParallel`; rank 0 writes checkpoints and
the artifact. On Trainium (`xla`, only in the Neuron image) each step ends with `xm.mark_step()`, which
runs the step's traced graph, and checkpoints and exports hold CPU copies of the weights.
"""

from __future__ import annotations

import copy
import importlib.util
import logging
import os
import socket
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.multiprocessing.spawn import ProcessException, start_processes
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler

from pytorch_container import artifact, checkpoints, data, engines, hyperparameters, networks, paths, runtime
from pytorch_container.errors import TrainingError
from pytorch_container.hyperparameters import Hyperparameters
from pytorch_container.runtime import Runtime, Topology

LOG = logging.getLogger("pytorch_container.train")
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
EVAL_BATCH = 256


@dataclass(frozen=True)
class Job:
    """Everything a training process needs (picklable: spawned processes receive it)."""

    container: paths.ContainerPaths
    hyperparameters: Hyperparameters
    topology: Topology
    runtime: Runtime
    master_addr: str
    master_port: int
    reasons: Path  # where spawned processes leave the reason they failed

    @property
    def world_size(self) -> int:
        """Processes over all hosts."""
        return len(self.topology.hosts) * self.runtime.processes_per_host


def main() -> int:
    """Console entry point: train, or record the failure reason and return 1."""
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    container = paths.resolve()
    try:
        run(container)
    except TrainingError as error:
        return _fail(container, f"training failed: {error}")
    except Exception as error:  # noqa: BLE001 - every failure must reach output/failure
        traceback.print_exc()
        return _fail(container, f"training failed with an unexpected error: {type(error).__name__}: {error}")
    return 0


def run(container: paths.ContainerPaths) -> None:
    """Plan the job from its configuration and run its processes on this host."""
    settings = hyperparameters.read(container.hyperparameters)
    topology = runtime.read_topology(os.environ, container.resource_config)
    plan = runtime.select_runtime(
        settings,
        cuda_devices=torch.cuda.device_count() if torch.cuda.is_available() else 0,
        bf16_supported=torch.cuda.is_available() and torch.cuda.is_bf16_supported(),
        cpu_count=runtime.cpu_count(),
        neuron_cores=runtime.neuron_cores(
            os.environ,
            runtime.current_instance_type(os.environ, container.resource_config),
            torch_xla_installed=importlib.util.find_spec("torch_xla") is not None,
        ),
    )
    LOG.info(
        "training on %s: %s; %d host(s) x %d process(es), backend %s, mixed precision %s",
        plan.device_type,
        plan.reason,
        len(topology.hosts),
        plan.processes_per_host,
        plan.backend,
        plan.autocast or "off",
    )
    multi_host = len(topology.hosts) > 1
    if multi_host and topology.network_interface:
        # The interface SageMaker names for the cluster network; NCCL and gloo would guess otherwise.
        os.environ.setdefault("NCCL_SOCKET_IFNAME", topology.network_interface)
        os.environ.setdefault("GLOO_SOCKET_IFNAME", topology.network_interface)
    with tempfile.TemporaryDirectory(prefix="pytorch-train-") as reasons:
        job = Job(
            container=container,
            hyperparameters=settings,
            topology=topology,
            runtime=plan,
            master_addr=topology.master if multi_host else "127.0.0.1",
            master_port=runtime.master_port(os.environ) if multi_host else _free_port(),
            reasons=Path(reasons),
        )
        if plan.processes_per_host == 1:
            worker(0, job)  # this host's one device: this process is its training process
            return
        try:
            # "spawn": each process starts clean (CUDA cannot be forked); it receives the picklable `Job`.
            start_processes(  # type: ignore[no-untyped-call]  # torch leaves this function unannotated
                _spawned, args=(job,), nprocs=plan.processes_per_host, start_method="spawn"
            )
        except ProcessException as error:
            raise TrainingError(_first_reason(job.reasons) or f"a training process failed: {error}") from None


def _free_port() -> int:
    """A free TCP port on the loopback interface for a single host's rendezvous."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _spawned(local_rank: int, job: Job) -> None:
    """A spawned process: train, and leave the reason behind when it fails."""
    logging.basicConfig(
        level=logging.INFO, format=f"%(asctime)s %(levelname)s [rank {local_rank}] %(name)s: %(message)s"
    )
    try:
        worker(local_rank, job)
    except Exception as error:
        reason = str(error) if isinstance(error, TrainingError) else f"{type(error).__name__}: {error}"
        (job.reasons / f"rank-{local_rank}").write_text(reason, encoding="utf-8")
        raise


def _first_reason(directory: Path) -> str | None:
    """The reason the lowest-ranked failed process gave."""
    found = sorted(directory.glob("rank-*"))
    return found[0].read_text(encoding="utf-8") if found else None


def worker(local_rank: int, job: Job) -> None:
    """One training process: join the process group (when there is more than one process) and train."""
    rank = job.topology.node_rank * job.runtime.processes_per_host + local_rank
    if job.runtime.device_type == "xla":
        device = _xla_device(local_rank, job)
    elif job.runtime.device_type == "cuda":
        torch.cuda.set_device(local_rank)
        device = torch.device("cuda", local_rank)
    else:
        device = torch.device("cpu")
        torch.set_num_threads(runtime.threads_per_process(os.environ, job.runtime.processes_per_host))
    if job.world_size > 1 and job.runtime.device_type == "xla":
        dist.init_process_group("xla", init_method="xla://")  # torch-xla's rendezvous reads the torchrun variables
    elif job.world_size > 1:
        dist.init_process_group(
            job.runtime.backend,
            init_method=f"tcp://{job.master_addr}:{job.master_port}",
            rank=rank,
            world_size=job.world_size,
            timeout=timedelta(minutes=10),
        )
    try:
        Trainer(job, rank, device).run()
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def _xla_device(local_rank: int, job: Job) -> torch.device:
    """This process's NeuronCore as torch-xla's device (the Neuron image only: torch-xla is installed there)."""
    os.environ.update(
        runtime.xla_process_environment(job.topology, job.runtime, local_rank, (job.master_addr, job.master_port))
    )
    import torch_xla.core.xla_model as xm  # type: ignore[import-not-found]  # the Neuron image only
    import torch_xla.distributed.xla_backend  # type: ignore[import-not-found]  # noqa: F401 - registers the backend

    device: torch.device = xm.xla_device()
    return device


def _end_step(device: torch.device) -> None:
    """On XLA, run the step's traced graph now (torch-xla traces lazily); nothing elsewhere."""
    if device.type == "xla":
        import torch_xla.core.xla_model as xm  # the Neuron image only

        xm.mark_step()


def _to_cpu(state: Any) -> Any:
    """`state` with every tensor copied to the CPU (XLA tensors cannot be saved or exported as they are)."""
    if isinstance(state, torch.Tensor):
        return state.cpu()
    if isinstance(state, dict):
        return {key: _to_cpu(value) for key, value in state.items()}
    if isinstance(state, (list, tuple)):
        return type(state)(_to_cpu(value) for value in state)
    return state


class Trainer:
    """The training loop of one process."""

    def __init__(self, job: Job, rank: int, device: torch.device) -> None:
        self.job = job
        self.hp = job.hyperparameters
        self.rank = rank
        self.world = job.world_size
        self.device = device
        self.is_main = rank == 0
        self.data = data.load(job.container.input_data, image_size=self.hp.image_size, color_mode=self.hp.color_mode)
        if self.hp.batch_size < self.world:
            raise TrainingError(f"batch_size={self.hp.batch_size} is smaller than the {self.world} training processes")
        torch.manual_seed(self.hp.seed)
        self.network = networks.build(
            self.hp.arch, channels=self.data.preprocessing.channels, classes=len(self.data.class_names)
        ).to(device)
        self.sampler: DistributedSampler[tuple[torch.Tensor, int]] = DistributedSampler(
            self.data.train, num_replicas=self.world, rank=rank, shuffle=True, seed=self.hp.seed
        )
        workers = self.hp.data_workers if self.hp.data_workers >= 0 else (4 if device.type == "cuda" else 0)
        self.loader = DataLoader(
            self.data.train,
            batch_size=self.hp.batch_size // self.world,
            sampler=self.sampler,
            num_workers=workers,
            pin_memory=device.type == "cuda",
            persistent_workers=workers > 0,
        )
        self.optimizer = torch.optim.AdamW(
            self.network.parameters(), lr=self.hp.learning_rate, weight_decay=self.hp.weight_decay
        )
        self.scheduler = torch.optim.lr_scheduler.OneCycleLR(
            self.optimizer, max_lr=self.hp.learning_rate, total_steps=self.hp.epochs * len(self.loader)
        )
        autocast = job.runtime.autocast
        self.autocast_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(autocast or "")
        self.scaler = torch.amp.GradScaler("cuda", enabled=autocast == "fp16")
        self.max_shift = self.hp.max_shift_pixels
        if self.max_shift < 0:
            self.max_shift = max(1, self.data.preprocessing.image_size // 8)
        self.model: nn.Module = self.network
        if self.world > 1:
            # gradient_as_bucket_view: gradients live in DDP's buckets (no copy, no stride-mismatch warnings).
            self.model = DistributedDataParallel(
                self.network,
                device_ids=[device.index] if device.type == "cuda" else None,
                gradient_as_bucket_view=True,
            )

    def run(self) -> None:
        """Resume if a checkpoint exists, train the remaining epochs, then (rank 0) write the artifact."""
        if self.is_main:
            LOG.info(
                "data: %s; %d classes; train %d, validation %s, test %s; input %s",
                self.data.source,
                len(self.data.class_names),
                len(self.data.train),
                len(self.data.validation) if self.data.validation else "none",
                len(self.data.test) if self.data.test else "none",
                "x".join(map(str, self.data.preprocessing.input_shape)),
            )
        start_epoch = self.resume()
        started = time.monotonic()
        for epoch in range(start_epoch, self.hp.epochs):
            loss = self.train_epoch(epoch)
            if self.is_main:
                validation = self.data.validation
                extra = f" validation_accuracy={self.eager_accuracy(validation):.4f}" if validation else ""
                LOG.info("epoch %d/%d: train_loss=%.4f%s", epoch + 1, self.hp.epochs, loss, extra)
                checkpoints.save(self.job.container.checkpoints, epoch + 1, self.checkpoint_state())
            self.barrier()
        train_seconds = time.monotonic() - started
        if self.is_main:
            write_artifact(self, train_seconds=train_seconds, resumed_from=start_epoch)
        self.barrier()

    def barrier(self) -> None:
        """Wait for every process (no-op for one process)."""
        if self.world > 1:
            dist.barrier()

    def checkpoint_state(self) -> dict[str, Any]:
        """What a restarted job needs to continue exactly where this one is."""
        state = {
            "fingerprint": self.hp.fingerprint(),
            "class_names": self.data.class_names,
            "network": self.network.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
        }
        return _to_cpu(state) if self.device.type == "xla" else state

    def resume(self) -> int:
        """Load the newest checkpoint (rank 0 reads it and sends it to every process); the epoch to start at."""
        state = None
        if self.is_main:
            state = checkpoints.load_latest(
                self.job.container.checkpoints, fingerprint=self.hp.fingerprint(), class_names=self.data.class_names
            )
        if self.world > 1:
            box = [state]
            dist.broadcast_object_list(box, src=0, device=self.device if self.device.type == "cuda" else None)
            state = box[0]
        if state is None:
            return 0
        self.network.load_state_dict(state["network"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        epoch: int = state["epoch"]
        if self.is_main:
            LOG.info("resuming from the checkpoint of epoch %d of %d", epoch, self.hp.epochs)
        return epoch

    def train_epoch(self, epoch: int) -> float:
        """One pass over this process's share of the training data; the mean loss over all processes."""
        self.model.train()
        self.sampler.set_epoch(epoch)
        # Dropout's randomness depends on the epoch and rank only, so a resumed job repeats it exactly.
        torch.manual_seed(self.hp.seed + 1_000_003 * (epoch + 1) + self.rank)
        total = torch.zeros(2, dtype=torch.float64, device=self.device)
        for inputs, labels in self.loader:
            inputs = random_shift(inputs.to(self.device, non_blocking=True), self.max_shift)
            labels = labels.to(self.device, non_blocking=True)
            with torch.autocast(
                self.device.type, dtype=self.autocast_dtype or torch.float32, enabled=self.autocast_dtype is not None
            ):
                loss = nn.functional.cross_entropy(self.model(inputs), labels)
            self.optimizer.zero_grad(set_to_none=True)
            torch.autograd.backward(self.scaler.scale(loss))
            self.scaler.step(self.optimizer)
            self.scaler.update()
            self.scheduler.step()
            _end_step(self.device)
            total += torch.stack([loss.detach().double() * len(labels), torch.tensor(len(labels), device=self.device)])
        if self.world > 1:
            dist.all_reduce(total)
        return float(total[0] / total[1])

    def eager_accuracy(self, dataset: data.LabelledImages) -> float:
        """Accuracy of the network as it is now on `dataset`."""
        network = self.network.eval()

        def predict(batch: np.ndarray) -> np.ndarray:
            with torch.inference_mode():
                result: np.ndarray = network(torch.from_numpy(batch).to(self.device)).float().cpu().numpy()
                return result

        return accuracy(predict, dataset)


def random_shift(batch: torch.Tensor, max_shift: int) -> torch.Tensor:
    """Translate each image by up to `max_shift` pixels in each direction (edges replicated): augmentation."""
    if max_shift == 0:
        return batch
    count, _, height, width = batch.shape
    padded = nn.functional.pad(batch, (max_shift,) * 4, mode="replicate")
    dy = torch.randint(0, 2 * max_shift + 1, (count, 1), device=batch.device)
    dx = torch.randint(0, 2 * max_shift + 1, (count, 1), device=batch.device)
    rows = (dy + torch.arange(height, device=batch.device))[:, :, None]
    cols = (dx + torch.arange(width, device=batch.device))[:, None, :]
    shifted = padded[torch.arange(count, device=batch.device)[:, None, None], :, rows, cols]  # N x H x W x C
    return shifted.permute(0, 3, 1, 2).contiguous()


def accuracy(predict: Any, dataset: data.LabelledImages) -> float:
    """Share of `dataset` whose most probable class (argmax of `predict(batch)`) is the label."""
    correct = 0
    for batch, labels in dataset.batches(EVAL_BATCH):
        correct += int((np.argmax(predict(batch), axis=1) == labels).sum())
    return correct / len(dataset)


def write_artifact(trainer: Trainer, *, train_seconds: float, resumed_from: int) -> None:
    """Write the artifact (`export.write_model`), then the test accuracy of every engine, into `model/`."""
    from pytorch_container import export  # the exporters load ONNX tooling: rank 0 only, at the end

    model_dir = trainer.job.container.model
    splits = trainer.data
    metadata = artifact.ModelMetadata(
        arch=trainer.hp.arch,
        class_names=splits.class_names,
        preprocessing=splits.preprocessing,
        files=dict(engines.ENGINE_FILES),
    )
    count = min(trainer.hp.calibration_images, len(splits.train))
    chosen = np.random.default_rng(trainer.hp.seed).choice(len(splits.train), size=count, replace=False)
    calibration, _ = splits.train.arrays(sorted(chosen.tolist()))
    started = time.monotonic()
    network = copy.deepcopy(trainer.network)
    export.write_model(network.cpu() if trainer.device.type == "xla" else network, metadata, calibration, model_dir)
    export_seconds = time.monotonic() - started
    metrics: dict[str, Any] = {
        "data": splits.source,
        "epochs": trainer.hp.epochs,
        "resumed_from_epoch": resumed_from,
        "world_size": trainer.world,
        "device": trainer.job.runtime.device_type,
        "mixed_precision": trainer.job.runtime.autocast or "off",
        "train_seconds": round(train_seconds, 3),
        "export_seconds": round(export_seconds, 3),
        "calibration_images": count,
        "file_bytes": {name: (model_dir / name).stat().st_size for name in sorted(set(engines.ENGINE_FILES.values()))},
    }
    if splits.test is not None:
        scores = {
            name: accuracy(engines.load(model_dir, metadata, engine=name, device="cpu").run, splits.test)
            for name in engines.ENGINES
        }
        metrics["test_accuracy"] = scores
        metrics["int8_accuracy_drop_pts"] = round(100 * (scores["onnx"] - scores["onnx-int8"]), 3)
        for name, score in scores.items():
            LOG.info("test_accuracy[%s]=%.4f", name, score)  # SageMaker metric definitions match these lines
    artifact.write_metrics(model_dir, metrics)
    scores = metrics.get("test_accuracy", {})
    LOG.info(
        "summary: %s; training %.1f s, exports %.1f s; %s; model in %s",
        ", ".join(f"{name} test accuracy {score:.4f}" for name, score in scores.items()) or "no test channel",
        train_seconds,
        export_seconds,
        ", ".join(f"{name} {size / 1024:.0f} KiB" for name, size in metrics["file_bytes"].items()),
        model_dir,
    )


def _fail(container: paths.ContainerPaths, message: str) -> int:
    """Write `message` to the failure file and the log; return the failing exit status."""
    LOG.error(message)
    container.failure.parent.mkdir(parents=True, exist_ok=True)
    container.failure.write_text(message + "\n", encoding="utf-8")
    return 1


if __name__ == "__main__":
    sys.exit(main())
