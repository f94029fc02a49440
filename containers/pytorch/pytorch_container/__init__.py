"""ML core of the platform's PyTorch image: an image classifier trained and served under SageMaker's contracts.

Training (`pytorch-train`, `pytorch_container.train`) reads an image folder or scikit-learn's digits,
trains with `torch.distributed` on CPU or CUDA and writes the artifact of `pytorch_container.artifact`
(weights, `torch.export` program, ONNX fp32 and int8, class names). Serving goes through
`pytorch_container.predictor.Predictor` (engines in `pytorch_container.engines`); the functions of
`pytorch_container.inference` expose it to AWS's PyTorch inference containers.
"""
