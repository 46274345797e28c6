"""What vt_core's client costs on top of the model: tokens/s through it vs plain HTTP.

Both paths ask the embedded llama.cpp server (the bundled SmolLM2 model) for the same
generation, alternating, ROUNDS times each; the client path skips the cache (fresh=True) so
every round really generates. Reports the median tokens/s of each and their ratio.

    python bench/llm_overhead.py      # last line: JSON with through_client, direct, ratio
"""

import json
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vt_core.core.config import Settings  # noqa: E402
from vt_core.core.llm import LLM, ChatRequest  # noqa: E402
from vt_core.core.store import Store  # noqa: E402

ROUNDS = 7
MAX_TOKENS = 200
MESSAGES = [{"role": "user", "content": "Write a long story about a lighthouse keeper and a storm."}]


def direct(url: str, model: str) -> float:
    """Tokens/s of one generation by plain HTTP, no client library."""
    body = json.dumps({"model": model, "messages": MESSAGES, "max_tokens": MAX_TOKENS,
                       "temperature": 0.0, "seed": 1}).encode()
    request = urllib.request.Request(f"{url}/chat/completions", data=body,
                                     headers={"Content-Type": "application/json"})
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=300) as response:
        reply = json.load(response)
    return reply["usage"]["completion_tokens"] / (time.perf_counter() - started)


def through_client(llm: LLM) -> float:
    request = ChatRequest(MESSAGES, temperature=0.0, max_tokens=MAX_TOKENS, seed=1)
    started = time.perf_counter()
    completion = llm.complete(request, fresh=True)
    return completion.tokens_out / (time.perf_counter() - started)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings.from_env({"VT_DB_PATH": f"{tmp}/bench.duckdb"})
        llm = LLM.from_settings(settings, Store(settings.db_path))
        url = llm.endpoint()  # starts the embedded server
        through_client(llm), direct(url, llm.model)  # warm both paths
        client_rates, direct_rates = [], []
        for _ in range(ROUNDS):
            client_rates.append(through_client(llm))
            direct_rates.append(direct(url, llm.model))
        client, plain = statistics.median(client_rates), statistics.median(direct_rates)
        print(json.dumps({
            "backend": llm.backend.describe(),
            "rounds": ROUNDS,
            "max_tokens": MAX_TOKENS,
            "through_client_tok_s": round(client, 1),
            "direct_tok_s": round(plain, 1),
            "ratio": round(client / plain, 3),
            "ratio_target": ">= 0.9",
        }))


if __name__ == "__main__":
    main()
