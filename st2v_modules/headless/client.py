"""Talks to a running ComfyUI over its HTTP and websocket API, the way the browser does.

aiohttp is one of ComfyUI's own requirements, so wherever ComfyUI runs this client does too.
"""
from __future__ import annotations

import asyncio
import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable

import aiohttp

from ..model_files.catalog import DOWNLOAD_COMMAND

Events = Callable[[str, dict], None]
"""Receives the server's websocket events for our prompt: ("executing", data), ("progress", data), ..."""

HISTORY_POLL_S = 2.0


class WorkflowFailed(RuntimeError):
    """ComfyUI refused or failed the workflow; the message is the host's own."""


class ServerClosed(WorkflowFailed):
    """The server went away while the workflow ran (it crashed, was killed or stopped)."""


@dataclass
class RunResult:
    prompt_id: str
    outputs: dict[str, dict] = field(default_factory=dict)
    """The output nodes' results as /history reports them."""


class ComfyClient:
    def __init__(self, url: str, session: aiohttp.ClientSession):
        self.url, self.session, self.client_id = url.rstrip("/"), session, uuid.uuid4().hex

    async def get(self, path: str) -> Any:
        async with self.session.get(self.url + path) as response:
            response.raise_for_status()
            return await response.json()

    async def run(self, prompt: dict, events: Events, timeout_s: float | None = None) -> RunResult:
        """Queue the prompt and wait for it, passing progress events on; raises WorkflowFailed with the host's message."""
        ws_url = self.url.replace("http", "ws", 1) + f"/ws?clientId={self.client_id}"
        try:
            async with self.session.ws_connect(ws_url, heartbeat=30) as ws:  # connected before queueing: no event missed
                prompt_id = await self._queue(prompt)
                entry = await asyncio.wait_for(self._watch(ws, prompt_id, events), timeout_s)
        except (aiohttp.ClientError, ConnectionError) as error:
            raise ServerClosed(f"the ComfyUI server closed the connection ({self.url}: {error or type(error).__name__}) "
                               "while the workflow ran; it stopped or crashed") from None
        status = entry.get("status", {})
        if status.get("status_str") != "success":
            raise WorkflowFailed(failure_message(status.get("messages", [])))
        return RunResult(prompt_id, entry.get("outputs", {}))

    async def _queue(self, prompt: dict) -> str:
        async with self.session.post(self.url + "/prompt", json={"prompt": prompt, "client_id": self.client_id}) as response:
            body = await response.json(content_type=None)
            if response.status != 200:
                raise WorkflowFailed(refusal_message(body, prompt))
            return body["prompt_id"]

    async def _watch(self, ws: aiohttp.ClientWebSocketResponse, prompt_id: str, events: Events) -> dict:
        """Relay events until the prompt is in /history: looked up when the server says it is done, and every
        few seconds in case that event was missed."""
        while True:
            try:
                message = await ws.receive(timeout=HISTORY_POLL_S)
            except asyncio.TimeoutError:
                message = None
            if message is not None:
                if message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                    raise ServerClosed(f"the ComfyUI server closed the connection ({self.url}) while the workflow ran; "
                                       "it stopped or crashed")
                if message.type != aiohttp.WSMsgType.TEXT or not relay(message.data, prompt_id, events):
                    continue
            history = await self.get(f"/history/{prompt_id}")
            if prompt_id in history and history[prompt_id].get("status", {}).get("completed") is not None:
                return history[prompt_id]


def relay(text: str, prompt_id: str, events: Events) -> bool:
    """Pass one of our prompt's events on; True when it says the prompt is finished."""
    event = json.loads(text)
    kind, data = event.get("type", ""), event.get("data") or {}
    if data.get("prompt_id") not in (None, prompt_id):
        return False
    events(kind, data)
    return kind == "executing" and data.get("node") is None and data.get("prompt_id") == prompt_id


def refusal_message(body: dict, prompt: dict | None = None) -> str:
    """The /prompt 400 answer as the browser shows it: the error, then each node's errors (in node order, under the
    node's title), then the one command that fetches every missing model file they name (what to do without the browser)."""
    error = body.get("error", {})
    lines = [f"{error.get('message', 'invalid workflow')}" + (f": {error['details']}" if error.get("details") else "")]
    for node_id, node in sorted((body.get("node_errors") or {}).items(), key=lambda item: item[0].zfill(12)):  # as numbers
        title = ((prompt or {}).get(node_id, {}).get("_meta") or {}).get("title") or node.get("class_type", "?")
        shown = []
        for e in node.get("errors", []):
            line = f"{e.get('message', '')}" + (f" ({e['details']})" if e.get("details") else "")
            if e.get("type") == "custom_validation_failed":  # "<input> - <the node's message>", once per input it read
                line = e.get("details", "").split(" - ", 1)[-1]
            if line not in shown:
                shown.append(line)
                lines.append(f"  node {node_id}" + (": " if line.startswith(title + ":") else f" ({title}): ") + line)
    names = dict.fromkeys(n for found in re.findall(rf"{re.escape(DOWNLOAD_COMMAND)} ([\w ]+)", "\n".join(lines)) for n in found.split())
    if names:
        lines.append(f"Without the browser, fetch every missing model file in the pack's folder with ComfyUI's Python: "
                     f"{DOWNLOAD_COMMAND} {' '.join(names)}; then run this command again.")
    return "\n".join(lines)


def failure_message(messages: list) -> str:
    for event, data in messages:
        if event == "execution_error":
            kind = data.get("exception_type", "Error").rsplit(".", 1)[-1]  # a pack's classes carry its folder path
            return f"node {data.get('node_id')} ({data.get('node_type')}) failed: {kind}: {data.get('exception_message', '').strip()}"
        if event == "execution_interrupted":
            return f"the run was interrupted at node {data.get('node_id')} ({data.get('node_type')})"
    return "the workflow did not finish (no error message from ComfyUI)"
