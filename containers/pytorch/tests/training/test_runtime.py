"""Hosts, device, processes and precision of a training job, decided from its configuration and the machine."""

from __future__ import annotations

import json

import pytest

from pytorch_container import hyperparameters, runtime
from pytorch_container.errors import TrainingError
from pytorch_container.hyperparameters import Hyperparameters


def test_hosts_come_from_sm_hosts_and_the_master_is_the_first_in_sorted_order(tmp_path) -> None:
    env = {"SM_HOSTS": json.dumps(["algo-2", "algo-1", "algo-3"]), "SM_CURRENT_HOST": "algo-3"}
    topology = runtime.read_topology(env, tmp_path / "absent.json")
    assert topology.master == "algo-1" and topology.node_rank == 2 and len(topology.hosts) == 3


def test_without_the_toolkit_variables_the_resource_config_sagemaker_writes_is_read(tmp_path) -> None:
    config = tmp_path / "resourceconfig.json"
    config.write_text(
        json.dumps({"current_host": "algo-1", "hosts": ["algo-1", "algo-2"], "network_interface_name": "eth0"})
    )
    topology = runtime.read_topology({}, config)
    assert (topology.node_rank, topology.master, topology.network_interface) == (0, "algo-1", "eth0")


def test_without_any_configuration_the_job_is_this_host_alone(tmp_path) -> None:
    topology = runtime.read_topology({}, tmp_path / "absent.json")
    assert topology.hosts == ["localhost"] and topology.node_rank == 0


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SM_HOSTS": "algo-1", "SM_CURRENT_HOST": "algo-1"}, "SM_HOSTS is not a JSON list"),
        ({"SM_HOSTS": "[]", "SM_CURRENT_HOST": "algo-1"}, "hosts must be a non-empty JSON list"),
        ({"SM_HOSTS": '["algo-1"]', "SM_CURRENT_HOST": "algo-9"}, "current host 'algo-9' is not one of"),
        ({"SM_HOSTS": '["algo-1", "algo-1"]', "SM_CURRENT_HOST": "algo-1"}, "repeat a name"),
    ],
)
def test_a_bad_host_configuration_is_named(tmp_path, env: dict, message: str) -> None:
    with pytest.raises(TrainingError, match=message):
        runtime.read_topology(env, tmp_path / "absent.json")


def select(devices: int, bf16: bool = True, cpus: int = 8, **values: str) -> runtime.Runtime:
    return runtime.select_runtime(
        hyperparameters.parse(values), cuda_devices=devices, bf16_supported=bf16, cpu_count=cpus
    )


def test_cuda_is_chosen_when_torch_sees_devices_with_one_process_each_nccl_and_bf16() -> None:
    plan = select(4)
    assert (plan.device_type, plan.processes_per_host, plan.backend, plan.autocast) == ("cuda", 4, "nccl", "bf16")
    assert plan.reason == "4 CUDA device(s) visible"


def test_fp16_with_a_scaler_where_the_gpu_lacks_bf16_and_off_when_asked() -> None:
    assert select(1, bf16=False).autocast == "fp16"
    assert select(1, mixed_precision="off").autocast is None


def test_cpu_without_devices_one_process_gloo_full_precision() -> None:
    plan = select(0)
    assert (plan.device_type, plan.processes_per_host, plan.backend, plan.autocast) == ("cpu", 1, "gloo", None)
    assert plan.reason == "no CUDA device visible to torch"
    assert select(2, device="cpu", processes_per_host="2").processes_per_host == 2


@pytest.mark.parametrize(
    ("devices", "values", "message"),
    [
        (0, {"device": "cuda"}, "device=cuda requested but torch sees no CUDA device"),
        (2, {"processes_per_host": "3"}, "processes_per_host=3 is more than the 2 CUDA device"),
        (0, {"processes_per_host": "9"}, "processes_per_host=9 is more than the 8 CPU"),
        (0, {"mixed_precision": "bf16"}, "mixed_precision=bf16 needs CUDA; this job trains on cpu"),
    ],
)
def test_an_impossible_plan_is_refused_with_its_reason(devices: int, values: dict, message: str) -> None:
    with pytest.raises(TrainingError, match=message):
        select(devices, **values)


def test_bf16_on_a_gpu_without_it_is_refused() -> None:
    with pytest.raises(TrainingError, match="does not support bfloat16"):
        runtime.select_runtime(
            Hyperparameters(mixed_precision="bf16"), cuda_devices=1, bf16_supported=False, cpu_count=4
        )


def test_master_port_and_threads_come_from_the_environment() -> None:
    assert runtime.master_port({}) == 29500 and runtime.master_port({"MASTER_PORT": "1234"}) == 1234
    with pytest.raises(TrainingError, match="MASTER_PORT='http' is not a port number"):
        runtime.master_port({"MASTER_PORT": "http"})
    assert runtime.threads_per_process({"OMP_NUM_THREADS": "3"}, 2) == 3
    assert runtime.threads_per_process({}, runtime.cpu_count() * 2) == 1
