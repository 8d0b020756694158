"""The assistant's language models: OpenAI-compatible endpoints with failover, streamed.

``config`` reads ``VOICEBOT_LLM_PROVIDERS`` and a profile's choice among
them; ``provider`` is one endpoint (a streamed chat completion through the
``openai`` SDK, chunks read defensively, failures split into permanent and
transient); ``guard`` makes each one a named dependency of the project's
guarded call; ``router`` tries them in order (``stream`` is the failover
loop of one answer), each behind its circuit breaker and first-token
deadline, and retries or fails over only before any of the answer was spoken.
"""
