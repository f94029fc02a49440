"""Where training runs: the hosts of the job, the device type and how many processes each host starts.

- Hosts: SageMaker's `SM_HOSTS` (a JSON list) and `SM_CURRENT_HOST` when set (the SageMaker training
  toolkit's variables), else `input/config/resourceconfig.json` (what SageMaker writes into every training
  container), else this machine alone. The master is the first host in sorted order; a host's node rank
  is its index in that order.
- Device: `cuda` when torch sees a CUDA device, `cpu` otherwise (the `device` hyperparameter can insist on
  one); the choice and its reason are logged. One process per device: one per GPU on CUDA, one on CPU (the
  `processes_per_host` hyperparameter overrides it, e.g. 2 CPU processes in the tests).
- Backend: NCCL on CUDA, gloo on CPU. Mixed precision (autocast) only on CUDA: bf16 where the GPU
  supports it, else fp16 with a gradient scaler.

Another accelerator (Trainium's `xla` device, issue 18) plugs in at `select_runtime`: a device type,
its process-group backend and its autocast type.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pytorch_container.errors import TrainingError
from pytorch_container.hyperparameters import AUTO, Hyperparameters

DEFAULT_MASTER_PORT = 29500


@dataclass(frozen=True)
class Topology:
    """The job's hosts as this host sees them."""

    hosts: list[str]
    current_host: str
    network_interface: str | None = None

    @property
    def node_rank(self) -> int:
        """This host's index among the sorted hosts."""
        return sorted(self.hosts).index(self.current_host)

    @property
    def master(self) -> str:
        """The host that runs global rank 0 and the rendezvous."""
        return sorted(self.hosts)[0]


@dataclass(frozen=True)
class Runtime:
    """The device type and distributed settings of this job."""

    device_type: str  # "cpu" or "cuda"
    reason: str  # why, for the log
    processes_per_host: int
    backend: str  # torch.distributed backend
    autocast: str | None  # "bf16", "fp16" or None (full precision)


def read_topology(environ: Mapping[str, str], resource_config: Path) -> Topology:
    """The job's hosts from `SM_HOSTS`/`SM_CURRENT_HOST`, else `resourceconfig.json`, else one local host."""
    if "SM_HOSTS" in environ or "SM_CURRENT_HOST" in environ:
        try:
            hosts = json.loads(environ.get("SM_HOSTS", "[]"))
        except json.JSONDecodeError as error:
            raise TrainingError(f"SM_HOSTS is not a JSON list of host names: {error}") from None
        return _checked(hosts, environ.get("SM_CURRENT_HOST"), "SM_HOSTS/SM_CURRENT_HOST", None)
    if resource_config.is_file():
        try:
            document = json.loads(resource_config.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise TrainingError(f"{resource_config} is not valid JSON: {error}") from None
        if not isinstance(document, dict):
            raise TrainingError(f"{resource_config} must hold a JSON object")
        interface = document.get("network_interface_name")
        return _checked(
            document.get("hosts"),
            document.get("current_host"),
            str(resource_config),
            interface if isinstance(interface, str) else None,
        )
    return Topology(hosts=["localhost"], current_host="localhost")


def _checked(hosts: object, current: object, source: str, interface: str | None) -> Topology:
    """A topology whose host list is a non-empty list of distinct names that contains the current host."""
    if not isinstance(hosts, list) or not hosts or not all(isinstance(h, str) and h for h in hosts):
        raise TrainingError(f"{source}: hosts must be a non-empty JSON list of host names, found {hosts!r}")
    if len(set(hosts)) != len(hosts):
        raise TrainingError(f"{source}: hosts {hosts!r} repeat a name")
    if not isinstance(current, str) or current not in hosts:
        raise TrainingError(f"{source}: current host {current!r} is not one of the hosts {hosts!r}")
    return Topology(hosts=list(hosts), current_host=current, network_interface=interface)


def select_runtime(
    hyperparameters: Hyperparameters, *, cuda_devices: int, bf16_supported: bool, cpu_count: int
) -> Runtime:
    """Choose the device type, the processes per host and precision for `hyperparameters`."""
    requested = hyperparameters.device
    if requested == "cuda" and cuda_devices == 0:
        raise TrainingError("device=cuda requested but torch sees no CUDA device (torch.cuda.is_available() is False)")
    if requested == "cpu" or cuda_devices == 0:
        reason = "device=cpu requested" if requested == "cpu" else "no CUDA device visible to torch"
        device, processes, backend = "cpu", hyperparameters.processes_per_host or 1, "gloo"
        if processes > cpu_count:
            raise TrainingError(f"processes_per_host={processes} is more than the {cpu_count} CPU(s) of this host")
    else:
        reason = f"{cuda_devices} CUDA device(s) visible" + (", device=cuda requested" if requested == "cuda" else "")
        device, processes, backend = "cuda", hyperparameters.processes_per_host or cuda_devices, "nccl"
        if processes > cuda_devices:
            raise TrainingError(
                f"processes_per_host={processes} is more than the {cuda_devices} CUDA device(s) of this host"
            )
    return Runtime(
        device, reason, processes, backend, _autocast(hyperparameters.mixed_precision, device, bf16_supported)
    )


def _autocast(setting: str, device: str, bf16_supported: bool) -> str | None:
    """The autocast type: none on CPU; bf16 where supported (no scaler needed), else fp16, unless `off`."""
    if device != "cuda" or setting == "off":
        if setting in ("bf16", "fp16") and device != "cuda":
            raise TrainingError(f"mixed_precision={setting} needs CUDA; this job trains on {device}")
        return None
    if setting == AUTO:
        return "bf16" if bf16_supported else "fp16"
    if setting == "bf16" and not bf16_supported:
        raise TrainingError("mixed_precision=bf16 requested but this GPU does not support bfloat16")
    return setting


def master_port(environ: Mapping[str, str]) -> int:
    """The rendezvous port of a multi-host job: `MASTER_PORT`, else 29500 (torch.distributed's default)."""
    value = environ.get("MASTER_PORT", str(DEFAULT_MASTER_PORT))
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise TrainingError(f"MASTER_PORT={value!r} is not a port number")
    return int(value)


def cpu_count() -> int:
    """CPUs this process may run on (the container's share, not the machine's)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def threads_per_process(environ: Mapping[str, str], processes: int) -> int:
    """Intra-op threads of each CPU training process: `OMP_NUM_THREADS` when set, else a fair share of the CPUs."""
    value = environ.get("OMP_NUM_THREADS", "")
    if value.isdigit() and int(value) > 0:
        return int(value)
    return max(1, cpu_count() // processes)
