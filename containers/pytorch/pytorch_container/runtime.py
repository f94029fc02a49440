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

- Trainium (`ml.trn1.*`, `ml.trn1n.*`): with the Neuron SDK's `torch-neuronx` (the Neuron image,
  `Dockerfile.neuron`) the device is `xla`, one process per NeuronCore (`NEURON_RT_VISIBLE_CORES` when
  set, else the instance type's count), the `xla` process-group backend (torch-xla's, over the Neuron
  collectives), bf16 autocast (Trainium's native type) unless `mixed_precision=off`.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pytorch_container.errors import TrainingError
from pytorch_container.hyperparameters import AUTO, Hyperparameters

DEFAULT_MASTER_PORT = 29500
# NeuronCores of each Trainium instance type: trn1.2xlarge has one Trainium chip (2 NeuronCore-v2),
# trn1.32xlarge and trn1n.32xlarge sixteen (32 cores).
NEURON_CORES = {"ml.trn1.2xlarge": 2, "ml.trn1.32xlarge": 32, "ml.trn1n.32xlarge": 32}
_CORE_RANGE = re.compile(r"^(\d+)(?:-(\d+))?$")


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

    device_type: str  # "cpu", "cuda" or "xla" (Trainium's NeuronCores)
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
    hyperparameters: Hyperparameters,
    *,
    cuda_devices: int,
    bf16_supported: bool,
    cpu_count: int,
    neuron_cores: int = 0,
) -> Runtime:
    """Choose the device type, the processes per host and precision for `hyperparameters`."""
    requested = hyperparameters.device
    if requested == "xla" or (requested == AUTO and cuda_devices == 0 and neuron_cores > 0):
        return _xla_runtime(hyperparameters, neuron_cores)
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


def _xla_runtime(hyperparameters: Hyperparameters, neuron_cores: int) -> Runtime:
    """Trainium: one process per NeuronCore, torch-xla's `xla` backend, bf16 unless `mixed_precision=off`."""
    if neuron_cores == 0:
        raise TrainingError(
            "device=xla requested but no NeuronCore is visible: train on ml.trn1.* with the Neuron image "
            "(containers/pytorch/Dockerfile.neuron, torch-neuronx)"
        )
    processes = hyperparameters.processes_per_host or neuron_cores
    if processes > neuron_cores:
        raise TrainingError(
            f"processes_per_host={processes} is more than the {neuron_cores} NeuronCore(s) of this host"
        )
    setting = hyperparameters.mixed_precision
    if setting == "fp16":
        raise TrainingError("mixed_precision=fp16 is not offered on Trainium: use bf16 (its native type) or off")
    reason = f"{neuron_cores} NeuronCore(s) visible" + (
        ", device=xla requested" if hyperparameters.device == "xla" else ""
    )
    return Runtime("xla", reason, processes, "xla", None if setting == "off" else "bf16")


def neuron_cores(environ: Mapping[str, str], instance_type: str | None, *, torch_xla_installed: bool) -> int:
    """NeuronCores this host trains on: `NEURON_RT_VISIBLE_CORES` (`0-31`, `0,1`), else the instance type's.

    0 without torch-xla (every image but the Neuron one) or on an instance type without NeuronCores.
    """
    if not torch_xla_installed:
        return 0
    visible = environ.get("NEURON_RT_VISIBLE_CORES", "").strip()
    if not visible:
        return NEURON_CORES.get(instance_type or "", 0)
    cores: set[int] = set()
    for part in visible.split(","):
        match = _CORE_RANGE.match(part.strip())
        if not match or (match[2] and int(match[2]) < int(match[1])):
            raise TrainingError(f"NEURON_RT_VISIBLE_CORES={visible!r} is not a list of core numbers or ranges (0-31)")
        cores.update(range(int(match[1]), int(match[2] or match[1]) + 1))
    return len(cores)


def current_instance_type(environ: Mapping[str, str], resource_config: Path) -> str | None:
    """This host's instance type: `SM_CURRENT_INSTANCE_TYPE`, else `current_instance_type` of resourceconfig.json."""
    if environ.get("SM_CURRENT_INSTANCE_TYPE"):
        return environ["SM_CURRENT_INSTANCE_TYPE"]
    try:
        document = json.loads(resource_config.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None  # read_topology names a broken file
    value = document.get("current_instance_type") if isinstance(document, dict) else None
    return value if isinstance(value, str) else None


def xla_process_environment(
    topology: Topology, runtime: Runtime, local_rank: int, master: tuple[str, int]
) -> dict[str, str]:
    """What one Trainium training process needs before torch-xla starts: its NeuronCore and the torchrun
    variables torch-xla's `xla://` rendezvous reads."""
    processes = runtime.processes_per_host
    return {
        "NEURON_RT_VISIBLE_CORES": str(local_rank),
        "LOCAL_RANK": str(local_rank),
        "RANK": str(topology.node_rank * processes + local_rank),
        "LOCAL_WORLD_SIZE": str(processes),
        "WORLD_SIZE": str(len(topology.hosts) * processes),
        "MASTER_ADDR": master[0],
        "MASTER_PORT": str(master[1]),
    }


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
