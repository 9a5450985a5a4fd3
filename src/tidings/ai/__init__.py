"""The assistant's runtime: model backends and the tool-calling pipeline.

``backends`` turns messages into tokens (an in-process GGUF model or an
OpenAI-compatible endpoint); ``pipeline`` turns a request and the tools in play
(as MCP lists them) into one decision: call a tool with checked arguments, answer
without a tool, or ask the user to clarify. Nothing here knows a tool by name.
"""
