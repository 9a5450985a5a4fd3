"""Any OpenAI-compatible chat endpoint (Ollama, llama-server, vLLM, llama-cpp-python's
server, hosted APIs), over httpx.

Only the widely implemented subset is used: ``/chat/completions`` with ``stream``,
``response_format`` for schema-constrained JSON and ``tools`` for native tool calls.
Token counting uses the server's tokenizer where it exposes one (llama-cpp-python's
``/extras/tokenize``, llama-server's ``/tokenize``), else an estimate.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from typing import Any, Literal

import httpx

from tidings.ai.backends import (
    BackendError,
    InvalidOutput,
    Message,
    NativeCall,
    Sampling,
    ToolSpec,
    checked_json,
)
from tidings.core.config import Settings

# Characters per token of typical BPE vocabularies on FR/EN text, for servers that
# do not expose their tokenizer.
_CHARS_PER_TOKEN = 4


def _wire(messages: Sequence[Message]) -> list[dict[str, str]]:
    out = []
    for message in messages:
        if message.role == "tool":
            # A bare "tool" message needs the id of a call the server made; results
            # of calls the pipeline made are reported as user text instead.
            content = f"Result of tool {message.name or 'call'}:\n{message.content}"
            out.append({"role": "user", "content": content})
        else:
            out.append({"role": message.role, "content": message.content})
    return out


class OpenAIBackend:
    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        json_mode: Literal["json_schema", "json_object"] = "json_schema",
        native_tools: bool = False,
        timeout: float = 300.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.json_mode = json_mode
        self._native_tools = native_tools
        self._token_overhead: int | None = None
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.http = httpx.AsyncClient(headers=headers, timeout=timeout)

    @classmethod
    def from_settings(cls, settings: Settings) -> OpenAIBackend:
        ai = settings.ai
        return cls(
            ai.openai_base_url,
            ai.openai_model,
            api_key=ai.api_key.get_secret_value() if ai.api_key else None,
            json_mode=ai.openai_json_mode,
            native_tools=ai.native_tools,
            timeout=ai.request_timeout,
        )

    @property
    def name(self) -> str:
        return f"OpenAI-compatible {self.model or '(default model)'} at {self.base_url}"

    @property
    def native_tools(self) -> bool:
        return self._native_tools

    def _body(self, messages: Sequence[Message], sampling: Sampling) -> dict[str, Any]:
        body: dict[str, Any] = {
            "messages": _wire(messages),
            "max_tokens": sampling.max_tokens,
            "temperature": sampling.temperature,
            "seed": sampling.seed,
        }
        if self.model:
            body["model"] = self.model
        if sampling.stop:
            body["stop"] = list(sampling.stop)
        return body

    async def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        try:
            response = await self.http.post(f"{self.base_url}/chat/completions", json=body)
        except httpx.HTTPError as exc:
            raise BackendError(f"{self.base_url}: {exc}") from exc
        if response.status_code != 200:
            raise BackendError(
                f"{self.base_url}: HTTP {response.status_code}: {response.text[:300]}"
            )
        data: dict[str, Any] = response.json()
        return data

    @staticmethod
    def _message(data: dict[str, Any]) -> dict[str, Any]:
        try:
            message: dict[str, Any] = data["choices"][0]["message"]
        except (KeyError, IndexError, TypeError) as exc:
            raise BackendError(f"unexpected reply: {json.dumps(data)[:300]}") from exc
        return message

    async def complete(self, messages: Sequence[Message], sampling: Sampling) -> str:
        data = await self._post(self._body(messages, sampling))
        return str(self._message(data).get("content") or "")

    async def stream(self, messages: Sequence[Message], sampling: Sampling) -> AsyncIterator[str]:
        body = {**self._body(messages, sampling), "stream": True}
        try:
            async with self.http.stream(
                "POST", f"{self.base_url}/chat/completions", json=body
            ) as response:
                if response.status_code != 200:
                    text = (await response.aread()).decode(errors="replace")
                    raise BackendError(f"{self.base_url}: HTTP {response.status_code}: {text}")
                async for line in response.aiter_lines():
                    if not line.startswith("data:"):
                        continue
                    payload = line[5:].strip()
                    if payload == "[DONE]":
                        return
                    choices = json.loads(payload).get("choices") or [{}]
                    piece = (choices[0].get("delta") or {}).get("content")
                    if piece:
                        yield piece
        except httpx.HTTPError as exc:
            raise BackendError(f"{self.base_url}: {exc}") from exc

    async def complete_json(
        self, messages: Sequence[Message], schema: dict[str, Any], sampling: Sampling
    ) -> Any:
        body = self._body(messages, sampling)
        if self.json_mode == "json_object":
            body["response_format"] = {"type": "json_object", "schema": schema}
        else:
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "arguments", "schema": schema, "strict": True},
            }
        text = str(self._message(await self._post(body)).get("content") or "")
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidOutput(f"endpoint returned no valid JSON: {text[:200]!r}") from exc
        return checked_json(value, schema)

    async def call_tools(
        self, messages: Sequence[Message], tools: Sequence[ToolSpec], sampling: Sampling
    ) -> NativeCall:
        body = self._body(messages, sampling)
        body["tools"] = [
            {
                "type": "function",
                "function": {
                    "name": t.name,
                    "description": t.description,
                    "parameters": t.parameters,
                },
            }
            for t in tools
        ]
        body["tool_choice"] = "auto"
        message = self._message(await self._post(body))
        calls = message.get("tool_calls") or []
        if not calls:
            return NativeCall(None, text=str(message.get("content") or ""))
        function = calls[0].get("function") or {}
        raw = function.get("arguments") or "{}"
        try:
            arguments = json.loads(raw) if isinstance(raw, str) else dict(raw)
        except json.JSONDecodeError as exc:
            raise BackendError(f"tool call arguments are not JSON: {raw[:200]!r}") from exc
        if not isinstance(arguments, dict):
            raise BackendError(f"tool call arguments are not an object: {raw[:200]!r}")
        return NativeCall(str(function.get("name")), arguments)

    async def _server_tokens(self, text: str) -> int | None:
        root = self.base_url.removesuffix("/v1")
        attempts = [
            (f"{root}/extras/tokenize", {"input": text}),  # llama-cpp-python server
            (f"{root}/tokenize", {"content": text}),  # llama.cpp's llama-server
        ]
        for url, body in attempts:
            try:
                response = await self.http.post(url, json=body)
            except httpx.HTTPError:
                continue
            if response.status_code == 200 and isinstance(response.json().get("tokens"), list):
                return len(response.json()["tokens"])
        return None

    async def count_tokens(self, text: str) -> int:
        counted = await self._server_tokens(text)
        if counted is None:
            return max(1, -(-len(text) // _CHARS_PER_TOKEN))
        if self._token_overhead is None:
            # Some servers add <bos> to whatever they tokenize: measure it once.
            self._token_overhead = await self._server_tokens("") or 0
        return counted - self._token_overhead

    async def aclose(self) -> None:
        await self.http.aclose()
