"""The image classifier pipeline: the platform's PyTorch image trains, evaluates and serves it."""
