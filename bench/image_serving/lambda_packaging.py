"""Lambda packaging of the image classifier, measured: lean zip (ONNX Runtime) vs container image with torch.

`make bench-image-lambda` (provisional figures on a shared machine; the lead re-measures on a quiet one):

- Size: the lean zip is the real bundle the serverless stack deploys (`build_bundle`, Lambda platform wheels,
  Python 3.14), unzipped and zipped; the torch image's own layer is the CPU image's runtime requirements
  (`containers/pytorch/requirements-cpu.txt`, torch `+cpu`) as installed in `.venv-pytorch`. A container
  image adds its base image (the Lambda Python base image) on top; the zip runs on the managed runtime.
- Cold init, each in fresh processes (alternating, `--runs` each): `lean handler` is the function's whole
  init (imports, registry look-up, download from the emulator's S3, unpack, ONNX Runtime session); `lean
  predictor` and `torch predictor (eager|exported)` are imports plus loading the same unpacked model, the
  apples-to-apples pair. The process start (interpreter) is reported apart: Lambda's runtime start is not
  ours to measure here.
  (`python` is a bare interpreter's start, `python -S -c pass`, for scale.) RSS is the peak (VmHWM: ru_maxrss
  keeps the parent's peak across fork and exec) after init.
- Warm latency: the same process then classifies digits one at a time (p50).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT))

from local_lifecycle.emulator import Emulator  # noqa: E402
from local_lifecycle.image_serving import PYTORCH_PYTHON, pack_model, register_model, train_classifier  # noqa: E402
from local_lifecycle.serve_demo import BUCKET, GROUP, lambda_environment  # noqa: E402
from stacks.components.image_serving.classifier_function import REQUIREMENTS, SHARED_PACKAGES  # noqa: E402
from stacks.components.lambda_bundling import LAMBDAS_DIR, build_bundle  # noqa: E402
from tooling.requirement_pins import read_pins  # noqa: E402

OUTPUT = REPO_ROOT / "build" / "image-serving" / "packaging.json"

PROBE = """
import json, sys, time
started = time.perf_counter()
kind, model_dir = sys.argv[1], sys.argv[2]
if kind == "lean-handler":
    import numpy, PIL.Image, onnxruntime, boto3, aws_lambda_powertools
    imported = time.perf_counter()
    import image_classifier.handler as handler
    predictor = handler.models.get("digits").predictor
else:
    engine = {"lean-predictor": "onnx-int8", "torch-eager": "eager", "torch-exported": "exported"}[kind]
    if kind.startswith("torch"):
        import torch
        torch.set_num_threads(1)
    import numpy, PIL.Image
    from pytorch_container.predictor import Predictor, PredictorSettings
    imported = time.perf_counter()
    predictor = Predictor(model_dir, PredictorSettings(engine=engine, device="cpu"))
loaded = time.perf_counter()
rss_mb = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM")) / 1024
from local_lifecycle.image_serving import digit_images
images = digit_images(220)
latencies = []
for image in images:
    begin = time.perf_counter()
    predictor.classify(image.body, image.content_type)
    latencies.append((time.perf_counter() - begin) * 1000)
latencies = sorted(latencies[20:])
print(json.dumps({
    "imports_ms": (imported - started) * 1000,
    "load_ms": (loaded - imported) * 1000,
    "init_ms": (loaded - started) * 1000,
    "warm_p50_ms": latencies[len(latencies) // 2],
    "rss_mb": rss_mb,
}))
"""


def tree_bytes(path: Path) -> int:
    """Bytes of every file under `path`."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def zip_bytes(directory: Path, archive: Path) -> int:
    """Size of `directory` deflated into a zip (what Lambda receives)."""
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as output:
        for path in sorted(directory.rglob("*")):
            if path.is_file():
                output.write(path, path.relative_to(directory))
    return archive.stat().st_size


def torch_layer_bytes() -> dict[str, int]:
    """Installed size of each runtime requirement of the CPU image, as installed in .venv-pytorch."""
    names = sorted(read_pins(REPO_ROOT / "containers" / "pytorch" / "requirements-cpu.txt"))
    script = (
        "import json, sys\nfrom importlib import metadata\nsizes = {}\n"
        "for name in sys.argv[1:]:\n"
        "    dist = metadata.distribution(name)\n"
        "    sizes[name] = sum((dist.locate_file(f).stat().st_size for f in dist.files or [] "
        "if dist.locate_file(f).is_file()), 0)\n"
        "print(json.dumps(sizes))"
    )
    result = subprocess.run([str(PYTORCH_PYTHON), "-c", script, *names], capture_output=True, text=True, check=True)
    sizes: dict[str, int] = json.loads(result.stdout)
    return sizes


def probe(kind: str, model_dir: Path, environment: dict[str, str]) -> dict[str, float]:
    """One fresh process of `kind`: its init and warm timings, and the bare interpreter's start beside it."""
    python = str(PYTORCH_PYTHON) if kind.startswith("torch") else sys.executable
    started = time.perf_counter()
    subprocess.run([python, "-S", "-c", "pass"], env=environment, check=True)
    interpreter = (time.perf_counter() - started) * 1000
    result = subprocess.run(
        [python, "-c", PROBE, kind, str(model_dir)], env=environment, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"{kind} failed: {result.stderr[-2000:]}")
    measured: dict[str, float] = json.loads(result.stdout.strip().splitlines()[-1])
    measured["interpreter_ms"] = interpreter
    return measured


def main() -> None:
    """Measure and print; JSON in build/image-serving/packaging.json."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="image-lambda-packaging-"))
    bundle = work / "bundle"
    started = time.perf_counter()
    build_bundle(
        package_dirs=[LAMBDAS_DIR / "image_classifier", *SHARED_PACKAGES], requirements=REQUIREMENTS, output_dir=bundle
    )
    print(f"bundled the lean zip in {time.perf_counter() - started:.1f} s (cached after the first build)")
    sizes = {
        "lean_zip_unzipped_mb": tree_bytes(bundle) / 2**20,
        "lean_zip_mb": zip_bytes(bundle, work / "function.zip") / 2**20,
    }
    torch_sizes = torch_layer_bytes()
    sizes["torch_image_layer_mb"] = sum(torch_sizes.values()) / 2**20
    sizes["torch_alone_mb"] = torch_sizes["torch"] / 2**20
    model_dir = train_classifier(work / "job", epochs=3)
    archive = pack_model(model_dir, work / "model.tar.gz").read_bytes()
    results: dict[str, list[dict[str, float]]] = {}
    kinds = ["lean-handler", "lean-predictor", "torch-eager", "torch-exported"]
    with Emulator() as emulator:
        s3, sagemaker = emulator.client("s3"), emulator.client("sagemaker")
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": emulator.region})
        register_model(sagemaker, s3, bucket=BUCKET, group=GROUP, archive=archive)
        for run in range(args.runs):
            for kind in kinds:
                environment = {
                    **os.environ,
                    **emulator.environment(),
                    **lambda_environment(work / f"cache-{kind}-{run}"),
                    "PYTHONPATH": os.pathsep.join([str(REPO_ROOT / "lambdas"), str(REPO_ROOT)]),
                    "OMP_NUM_THREADS": "1",
                }
                results.setdefault(kind, []).append(probe(kind, model_dir, environment))
    summary = {
        kind: {key: statistics.median(run[key] for run in runs) for key in runs[0]} for kind, runs in results.items()
    }
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(json.dumps({"sizes": sizes, "cold_init": summary, "runs": args.runs}, indent=2) + "\n")
    print(
        f"size: lean zip {sizes['lean_zip_mb']:.1f} MB zipped, {sizes['lean_zip_unzipped_mb']:.1f} MB unzipped "
        f"(Lambda limit 250 MB); torch image layer {sizes['torch_image_layer_mb']:.1f} MB (torch alone "
        f"{sizes['torch_alone_mb']:.1f} MB) plus the base image"
    )
    heading = f"cold init, median of {args.runs}"
    print(f"{heading:32} {'imports':>9} {'model':>9} {'init':>9} {'python':>9} {'warm p50':>9} {'RSS':>7}")
    for kind, row in summary.items():
        print(
            f"{kind:32} {row['imports_ms']:7.0f}ms {row['load_ms']:7.0f}ms {row['init_ms']:7.0f}ms "
            f"{row['interpreter_ms']:7.0f}ms {row['warm_p50_ms']:7.3f}ms {row['rss_mb']:5.0f}MB"
        )
    lean, torch_eager = summary["lean-handler"], summary["torch-eager"]
    print(
        f"packaging: lean zip {sizes['lean_zip_mb']:.0f} MB vs torch layer {sizes['torch_image_layer_mb']:.0f} MB; "
        f"init {lean['init_ms']:.0f} ms (whole handler, download included) vs {torch_eager['init_ms']:.0f} ms "
        f"(torch eager, local model); results in {OUTPUT.relative_to(REPO_ROOT)}"
    )


if __name__ == "__main__":
    main()
