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


# Trainium (issue 18). torch-xla and the Neuron runtime exist only in the Neuron image: these tests cover
# the decisions made before either is touched (device, processes, backend, precision, each process's
# environment); the training itself on NeuronCores cannot run here.


def select_xla(cores: int, **values: str) -> runtime.Runtime:
    return runtime.select_runtime(
        hyperparameters.parse(values), cuda_devices=0, bf16_supported=False, cpu_count=8, neuron_cores=cores
    )


def test_trainium_trains_on_xla_one_process_per_neuroncore_in_bf16() -> None:
    plan = select_xla(32)
    assert (plan.device_type, plan.processes_per_host, plan.backend, plan.autocast) == ("xla", 32, "xla", "bf16")
    assert plan.reason == "32 NeuronCore(s) visible"
    assert select_xla(2, device="xla", mixed_precision="off", processes_per_host="1").autocast is None


def test_without_neuroncores_auto_stays_on_cpu_and_xla_is_refused_naming_the_image() -> None:
    assert select_xla(0).device_type == "cpu"
    assert select_xla(2, device="cpu").device_type == "cpu"
    with pytest.raises(TrainingError, match="no NeuronCore is visible: train on ml.trn1.* with the Neuron image"):
        select_xla(0, device="xla")


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"processes_per_host": "3"}, "processes_per_host=3 is more than the 2 NeuronCore"),
        ({"mixed_precision": "fp16"}, "mixed_precision=fp16 is not offered on Trainium"),
    ],
)
def test_an_impossible_trainium_plan_is_refused(values: dict, message: str) -> None:
    with pytest.raises(TrainingError, match=message):
        select_xla(2, **values)


def test_neuroncores_come_from_the_runtime_s_visible_cores_else_the_instance_type() -> None:
    count = runtime.neuron_cores
    assert count({}, "ml.trn1.32xlarge", torch_xla_installed=True) == 32
    assert count({}, "ml.trn1.2xlarge", torch_xla_installed=True) == 2
    assert count({"NEURON_RT_VISIBLE_CORES": "0-7"}, "ml.trn1.32xlarge", torch_xla_installed=True) == 8
    assert count({"NEURON_RT_VISIBLE_CORES": "0,1, 4-5"}, None, torch_xla_installed=True) == 4
    assert count({}, "ml.m5.xlarge", torch_xla_installed=True) == 0
    assert count({}, "ml.trn1.32xlarge", torch_xla_installed=False) == 0  # the CPU and CUDA images
    with pytest.raises(TrainingError, match="NEURON_RT_VISIBLE_CORES='7-2' is not a list"):
        count({"NEURON_RT_VISIBLE_CORES": "7-2"}, None, torch_xla_installed=True)


def test_the_instance_type_comes_from_the_toolkit_variable_or_the_resource_config(tmp_path) -> None:
    config = tmp_path / "resourceconfig.json"
    config.write_text(
        json.dumps({"current_host": "algo-1", "hosts": ["algo-1"], "current_instance_type": "ml.trn1.2xlarge"})
    )
    assert runtime.current_instance_type({}, config) == "ml.trn1.2xlarge"
    assert runtime.current_instance_type({"SM_CURRENT_INSTANCE_TYPE": "ml.trn1.32xlarge"}, config) == "ml.trn1.32xlarge"
    assert runtime.current_instance_type({}, tmp_path / "absent.json") is None


def test_each_trainium_process_gets_its_neuroncore_and_the_rendezvous_variables() -> None:
    topology = runtime.Topology(hosts=["algo-1", "algo-2"], current_host="algo-2")
    plan = select_xla(32)
    env = runtime.xla_process_environment(topology, plan, 5, ("algo-1", 29500))
    assert env == {
        "NEURON_RT_VISIBLE_CORES": "5",
        "LOCAL_RANK": "5",
        "RANK": "37",
        "LOCAL_WORLD_SIZE": "32",
        "WORLD_SIZE": "64",
        "MASTER_ADDR": "algo-1",
        "MASTER_PORT": "29500",
    }
