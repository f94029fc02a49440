"""The two kinds of refusal the package raises, each with a message that names the problem."""

from __future__ import annotations


class TrainingError(Exception):
    """A problem with a training job's configuration or input data; the message names it.

    The training entrypoint writes the message to `output/failure` (the job's FailureReason).
    """


class InvalidInput(Exception):
    """A request the predictor refuses: a client error, with the HTTP status that fits it.

    `status` is 400 (the body is not a valid input), 413 (more than a limit allows) or 415 (a content
    type the predictor does not read); `message` names the bad value and what was expected.
    """

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
