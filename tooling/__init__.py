"""Developer tooling behind `make synth` and `make lint`."""
