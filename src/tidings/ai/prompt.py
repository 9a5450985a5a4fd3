"""Chat messages → the prompt text a Gemma model was trained on.

Built by hand on purpose: the bundled GGUF has no chat template, and llama-cpp-python's
``gemma`` chat format silently drops system and tool messages. Gemma has only two
roles (``user``, ``model``), so, as Google's own template does, the system text opens
the first user turn, and a tool result becomes a user turn that says which tool spoke.

The rendering is a pure function of the messages: the same system/tool preamble
gives the same bytes, hence the same tokens, so llama.cpp can reuse the KV cache of
that prefix from one turn to the next instead of evaluating it again.
"""

from __future__ import annotations

from collections.abc import Sequence

from tidings.ai.backends import Message

START = "<start_of_turn>"
END = "<end_of_turn>"


def _turn(role: str, text: str) -> str:
    return f"{START}{role}\n{text}{END}\n"


def render_gemma(messages: Sequence[Message]) -> str:
    """The prompt, ending with an open model turn for the reply.

    The tokenizer adds ``<bos>`` itself, so it is not written here.
    """
    system = "\n\n".join(m.content for m in messages if m.role == "system")
    parts: list[str] = []
    pending_system = system
    for message in messages:
        if message.role == "system":
            continue
        if message.role == "assistant":
            parts.append(_turn("model", message.content))
            continue
        if message.role == "tool":
            text = f"Result of tool {message.name or 'call'}:\n{message.content}"
        else:
            text = message.content
        if pending_system:
            text = f"{pending_system}\n\n{text}"
            pending_system = ""
        parts.append(_turn("user", text))
    if pending_system:
        parts.append(_turn("user", pending_system))
    parts.append(f"{START}model\n")
    return "".join(parts)
