"""A local stand-in for a Slack incoming webhook: records every message posted to its URL."""

from __future__ import annotations

import json
import secrets
import threading
from typing import Any

from local_airflow.http_standin import JsonStandIn


class SlackStandIn(JsonStandIn):
    """Answers like Slack (200 for a JSON message with `text`, 400 `invalid_payload` otherwise).

    The webhook path carries a random token, as Slack's do, so a test can check that the URL
    never leaks into logs or notifications.
    """

    def __init__(self) -> None:
        super().__init__()
        self.token = secrets.token_hex(12)
        self.webhook_url = f"{self.url}/services/T000/B000/{self.token}"
        self.messages: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], Any]:
        if method != "POST" or not path.endswith(self.token):
            return 404, {}, "no_service"
        try:
            message = json.loads(body)
        except ValueError:
            return 400, {}, "invalid_payload"
        if not isinstance(message, dict) or not message.get("text"):
            return 400, {}, "invalid_payload"
        with self._lock:
            self.messages.append(message)
        return 200, {}, "ok"

    def texts(self) -> list[str]:
        """The fallback `text` of every message received."""
        with self._lock:
            return [str(message["text"]) for message in self.messages]
