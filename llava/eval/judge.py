"""One OpenAI-compatible LLM judge for every GPT-judged benchmark (LLaVA-Bench, MM-Vet, video QA).

A benchmark supplies requests and a reply parser; this module does the rest the same way for all of them:

    requests = [JudgeRequest(item_id="12", messages=[...], max_tokens=1024, temperature=0.2, extra={...}), ...]
    outcome = run_judge(requests, parse, JudgeClient.from_args(args), "reviews.jsonl", workers=4)

- **Resumable.** Every judged item is appended to the results file (JSON lines keyed by `item_id`) as soon as it is
  judged; a rerun skips the items already there, so an interrupted or partly failed run continues where it stopped.
- **Concurrent.** `workers` requests are in flight at once (threads; one writer).
- **Retries with backoff.** A failed call (network error, HTTP 429/5xx, a reply without a message) or a reply the
  benchmark cannot parse is retried up to `attempts` times, waiting `backoff * 2**k` seconds (capped). A benchmark
  may change the request on a retry (`retry` callback; MM-Vet re-asks with a stricter prompt).
- **Never counts a failure.** An item whose every attempt failed is not written: it is reported (id and last error)
  and retried by the next run; scorers refuse to score while items are missing. LLaVA's own scripts instead counted
  an unparsable review as the pair (-1, -1) and MM-Vet's as 0.0.

The key is read from an environment variable (`--api-key-env`, default OPENAI_API_KEY), never from a flag, so it
does not end up in shell history or logs. `--api-base` points at any OpenAI-compatible server (OpenAI, Azure's
OpenAI-compatible route, vLLM, a gateway).
"""

import argparse
import ast
import json
import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from llava.eval.answer_records import read_answers

DEFAULT_API_BASE = "https://api.openai.com/v1"
DEFAULT_KEY_ENV = "OPENAI_API_KEY"
RETRYABLE_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})


class JudgeCallError(RuntimeError):
    """The judge could not be reached or answered with an error; `retryable` says whether trying again may help."""

    def __init__(self, message: str, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


class MalformedReply(ValueError):
    """A judge reply the benchmark's parser cannot read (never counted; retried)."""


@dataclass(frozen=True)
class JudgeRequest:
    """One item to judge. `extra` is stored with the result (ids, category, ... whatever the scorer needs)."""

    item_id: str
    messages: list[dict[str, str]]
    temperature: float = 0.0
    max_tokens: int = 1024
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class JudgeReply:
    content: str
    model: str


Parse = Callable[[JudgeRequest, str], Any]
Retry = Callable[[JudgeRequest, int], JudgeRequest]


@dataclass
class JudgeClient:
    """Chat completions on an OpenAI-compatible endpoint (`POST {api_base}/chat/completions`), stdlib HTTP only."""

    model: str
    api_base: str = DEFAULT_API_BASE
    api_key: str | None = None
    timeout: float = 120.0

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> "JudgeClient":
        key = os.environ.get(args.api_key_env) if args.api_key_env else None
        if args.api_key_env and not key:
            raise SystemExit(
                f"the judge needs an API key in the environment variable {args.api_key_env}; export it, or pass "
                "--api-key-env NAME for another variable (--api-key-env '' for a server without keys)"
            )
        return cls(model=args.judge_model, api_base=args.api_base, api_key=key, timeout=args.judge_timeout)

    def complete(self, request: JudgeRequest) -> JudgeReply:
        body = {
            "model": self.model,
            "messages": request.messages,
            "temperature": request.temperature,
            "max_tokens": request.max_tokens,
        }
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        http = urllib.request.Request(
            self.api_base.rstrip("/") + "/chat/completions", json.dumps(body).encode(), headers, method="POST"
        )
        try:
            with urllib.request.urlopen(http, timeout=self.timeout) as response:
                payload = response.read()
        except urllib.error.HTTPError as error:
            detail = error.read()[:300].decode(errors="replace")
            raise JudgeCallError(f"HTTP {error.code}: {detail}", retryable=error.code in RETRYABLE_STATUS) from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
            raise JudgeCallError(f"cannot reach {self.api_base}: {error}") from None
        try:
            data = json.loads(payload)
            content = data["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise JudgeCallError(f"the reply is not a chat completion: {payload[:300]!r}") from None
        if not isinstance(content, str):
            raise JudgeCallError(f"the reply's message content is {type(content).__name__}, not text")
        return JudgeReply(content=content, model=str(data.get("model", self.model)))


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    backoff: float = 1.0
    max_backoff: float = 60.0
    sleep: Callable[[float], None] = time.sleep

    def wait(self, attempt: int) -> None:
        if self.backoff > 0:
            self.sleep(min(self.max_backoff, self.backoff * 2**attempt))


@dataclass
class JudgeOutcome:
    """Judged results by item id (old and new), and the items that failed this run with their last error."""

    results: dict[str, dict]
    failed: dict[str, str]

    def require_complete(self, item_ids: Iterable[str]) -> None:
        """Scorers call this: a missing item means a score over fewer items than the benchmark has."""
        missing = [i for i in item_ids if i not in self.results]
        if missing:
            raise JudgeIncomplete(missing, self.failed)


class JudgeIncomplete(RuntimeError):
    def __init__(self, missing: Sequence[str], failed: Mapping[str, str]) -> None:
        first = missing[0]
        reason = f": {failed[first]}" if first in failed else ""
        super().__init__(
            f"{len(missing)} item(s) are not judged yet (first: {first!r}{reason}). Nothing was scored. Fix the cause "
            "and run the same command again: judged items are kept and only these are retried."
        )
        self.missing = list(missing)


def _judge_one(
    client: JudgeClient, request: JudgeRequest, parse: Parse, retry: Retry | None, policy: RetryPolicy
) -> dict:
    last_error = "no attempt made"
    current = request
    for attempt in range(policy.attempts):
        if attempt:
            policy.wait(attempt - 1)
            if retry is not None:
                current = retry(request, attempt)
        try:
            reply = client.complete(current)
        except JudgeCallError as error:
            last_error = f"call failed: {error}"
            if not error.retryable:
                break
            continue
        try:
            parsed = parse(current, reply.content)
        except MalformedReply as error:
            last_error = f"unparsable reply {reply.content[:200]!r}: {error}"
            continue
        return {"item_id": request.item_id, "judge_model": reply.model, "content": reply.content,
                "parsed": parsed, "attempts": attempt + 1, **request.extra}  # fmt: skip
    raise JudgeCallError(last_error)


def run_judge(
    requests: Sequence[JudgeRequest],
    parse: Parse,
    client: JudgeClient,
    results_file: str | Path,
    workers: int = 4,
    policy: RetryPolicy = RetryPolicy(),
    retry: Retry | None = None,
) -> JudgeOutcome:
    """Judge every request not yet in `results_file`; see the module docstring for the guarantees."""
    ids = [r.item_id for r in requests]
    if len(set(ids)) != len(ids):
        raise ValueError("two judge requests share an item_id; ids must be unique")
    path = Path(results_file).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    results = {str(k): v for k, v in read_answers(path, key=lambda r: r["item_id"]).items()} if path.exists() else {}
    pending = [r for r in requests if r.item_id not in results]
    if results:
        print(f"[judge] {path}: {len(results)} item(s) already judged, {len(pending)} to go", file=sys.stderr)
    failed: dict[str, str] = {}
    with path.open("a", encoding="utf-8") as out, ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        futures: dict[Future, JudgeRequest] = {}
        queue = iter(pending)

        def submit_next() -> None:
            request = next(queue, None)
            if request is not None:
                futures[pool.submit(_judge_one, client, request, parse, retry, policy)] = request

        for _ in range(max(1, workers)):
            submit_next()
        while futures:
            done, _ = wait(futures, return_when=FIRST_COMPLETED)
            for future in done:
                request = futures.pop(future)
                try:
                    record = future.result()
                except JudgeCallError as error:
                    failed[request.item_id] = str(error)
                else:
                    out.write(json.dumps(record, ensure_ascii=False) + "\n")
                    out.flush()
                    results[request.item_id] = record
                submit_next()
    if failed:
        print(f"[judge] {len(failed)} item(s) failed and were NOT counted; rerun to retry them:", file=sys.stderr)
        for item_id, error in list(failed.items())[:10]:
            print(f"[judge]   {item_id}: {error}", file=sys.stderr)
    return JudgeOutcome(results=results, failed=failed)


def literal_dict_reply(reply: str, required: Sequence[str]) -> dict:
    """Parse a reply that should be a Python/JSON dict literal with `required` keys (the Video-ChatGPT judge format,
    e.g. "{'pred': 'yes', 'score': 4}"), tolerating text around the braces."""
    start, end = reply.find("{"), reply.rfind("}")
    if start < 0 or end < start:
        raise MalformedReply("no {...} dict in the reply")
    try:
        value = ast.literal_eval(reply[start : end + 1])
    except (ValueError, SyntaxError) as error:
        raise MalformedReply(f"not a dict literal ({error})") from None
    if not isinstance(value, dict) or any(key not in value for key in required):
        raise MalformedReply(f"expected a dict with keys {list(required)}")
    return value


def add_judge_args(parser: argparse.ArgumentParser, default_model: str) -> None:
    group = parser.add_argument_group("judge (OpenAI-compatible chat completions)")
    group.add_argument("--judge-model", default=default_model, help=f"judge model (default: {default_model})")
    group.add_argument("--api-base", default=DEFAULT_API_BASE, help="OpenAI-compatible base URL (…/v1)")
    group.add_argument("--api-key-env", default=DEFAULT_KEY_ENV,
                       help="environment variable holding the API key ('' for a server without keys)")  # fmt: skip
    group.add_argument("--judge-workers", type=int, default=4, help="requests in flight at once")
    group.add_argument("--judge-attempts", type=int, default=5, help="attempts per item before it is reported")
    group.add_argument("--judge-backoff", type=float, default=1.0, help="first retry wait in seconds (doubles)")
    group.add_argument("--judge-timeout", type=float, default=120.0, help="seconds per request")


def policy_from_args(args: argparse.Namespace) -> RetryPolicy:
    return RetryPolicy(attempts=args.judge_attempts, backoff=args.judge_backoff)


def with_retry_request(request: JudgeRequest, **changes: Any) -> JudgeRequest:
    """A copy of `request` with some fields changed (for `retry` callbacks)."""
    return replace(request, **changes)
