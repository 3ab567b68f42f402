"""The official `openai` Python SDK as a real client of the gateway."""

import base64
import json

import openai
import pytest

from pyfixtures import RELAY_KEY, ROUTER_KEY, wait_until

PNG_1PX = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
    )
).decode()


@pytest.fixture
def client(gateway):
    return openai.OpenAI(base_url=gateway["base_url"], api_key=ROUTER_KEY, max_retries=0)


def test_non_streaming_auto(client):
    raw = client.chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": "Say hello."}]
    )
    resp = raw.parse()
    assert "[simulated]" in resp.choices[0].message.content
    assert raw.headers["x-llm-router-original-model"] == "auto"
    assert raw.headers["x-llm-router-decision"] in ("router", "fallback-policy")
    target = raw.headers["x-llm-router-target-model"]
    assert target and target in resp.choices[0].message.content
    assert resp.usage.total_tokens > 0


def test_streaming_auto_coding(client):
    stream = client.chat.completions.create(
        model="auto-coding",
        stream=True,
        messages=[{"role": "user", "content": "Write a tiny Rust function that adds two numbers"}],
    )
    text = ""
    finish = None
    for chunk in stream:
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
            finish = chunk.choices[0].finish_reason or finish
    assert "[simulated]" in text
    assert finish == "stop"


def test_streaming_usage_when_asked(client):
    stream = client.chat.completions.create(
        model="auto",
        stream=True,
        stream_options={"include_usage": True},
        messages=[{"role": "user", "content": "hi"}],
    )
    chunks = list(stream)
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    assert chunks[-1].choices == []


def test_tool_calls_with_streamed_arguments(client):
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "weather for a city",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
        }
    ]
    stream = client.chat.completions.create(
        model="auto",
        stream=True,
        tools=tools,
        messages=[{"role": "user", "content": "What is the weather in Paris?"}],
    )
    calls = {}
    finish = None
    for chunk in stream:
        if not chunk.choices:
            continue
        c = chunk.choices[0]
        finish = c.finish_reason or finish
        for tc in c.delta.tool_calls or []:
            slot = calls.setdefault(tc.index, {"name": "", "args": ""})
            if tc.function and tc.function.name:
                slot["name"] = tc.function.name
            if tc.function and tc.function.arguments:
                slot["args"] += tc.function.arguments
    assert finish == "tool_calls"
    assert calls[0]["name"] == "get_weather"
    json.loads(calls[0]["args"])  # fragments join into valid JSON


def test_tool_call_non_streaming_then_tool_result(client):
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]
    first = client.chat.completions.create(
        model="auto", tools=tools, messages=[{"role": "user", "content": "look up order 7"}]
    )
    call = first.choices[0].message.tool_calls[0]
    assert first.choices[0].finish_reason == "tool_calls"
    second = client.chat.completions.create(
        model="auto",
        tools=tools,
        messages=[
            {"role": "user", "content": "look up order 7"},
            {"role": "assistant", "tool_calls": [call.model_dump()]},
            {"role": "tool", "tool_call_id": call.id, "content": '{"status": "shipped"}'},
        ],
    )
    assert second.choices[0].message.content


def test_image_message_goes_to_a_vision_model(client):
    raw = client.chat.completions.with_raw_response.create(
        model="auto",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is in this image?"},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_1PX}"}},
                ],
            }
        ],
    )
    # deepseek-chat is the only text-only chat model the simulated relay lists.
    assert raw.headers["x-llm-router-target-model"] != "deepseek-chat"
    assert raw.parse().choices[0].message.content


def test_models_list_shows_virtual_models_first(client):
    ids = [m.id for m in client.models.list()]
    assert ids[:3] == ["auto", "auto-coding", "auto-longtext"]
    assert "gpt-5.5" in ids


def test_upstream_errors_map_to_sdk_exceptions(client, sim):
    sim.script(model="gpt-5.4", status=429, body={"error": {"message": "slow down", "type": "rate_limit_error"}},
               headers={"retry-after": "3"})
    with pytest.raises(openai.RateLimitError) as e:
        client.chat.completions.create(model="gpt-5.4", messages=[{"role": "user", "content": "x"}])
    assert "slow down" in str(e.value)

    sim.script(model="gpt-5.4", status=400, body={"error": {"message": "bad field", "type": "invalid_request_error"}})
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="gpt-5.4", messages=[{"role": "user", "content": "x"}])

    sim.script(model="gpt-5.4", status=500, body={"error": {"message": "boom"}})
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model="gpt-5.4", messages=[{"role": "user", "content": "x"}])


def test_exhausted_fallback_tells_the_sdk_not_to_retry(gateway, sim):
    # Every model fails with 503; deepseek-chat (the router model) fails as router and as answer.
    for model in ["gpt-5.4-mini", "gpt-4.1-nano", "gpt-5.3-codex", "gpt-5.4", "gpt-5.5", "claude-sonnet-4-5",
                  "deepseek-chat", "deepseek-chat"]:
        sim.script(model=model, status=503, body={"error": {"message": "overloaded"}})
    c = openai.OpenAI(base_url=gateway["base_url"], api_key=ROUTER_KEY, max_retries=2)
    try:
        with pytest.raises(openai.InternalServerError) as e:
            c.chat.completions.with_raw_response.create(model="auto", messages=[{"role": "user", "content": "x"}])
        assert e.value.response.headers["x-should-retry"] == "false"
        assert e.value.status_code == 503
    finally:
        sim.clear()


def test_wrong_router_key_is_an_authentication_error(gateway):
    c = openai.OpenAI(base_url=gateway["base_url"], api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        c.models.list()


def test_keys_never_reach_the_log(client, gateway, sim):
    sim.script(model="gpt-5.4", status=401, body={"error": {"message": f"Incorrect API key provided: {RELAY_KEY}"}})
    with pytest.raises(openai.AuthenticationError) as e:
        client.chat.completions.create(model="gpt-5.4", messages=[{"role": "user", "content": "secret prompt text"}])
    assert RELAY_KEY not in str(e.value)

    # The request's log line is written as it ends, which may be just after the client has
    # the answer: wait for that line, then read the whole log.
    def logged():
        text = gateway["log"].read_text()
        lines = [line for line in text.splitlines() if '"message":"request"' in line and '"status":401' in line]
        return text if lines else None

    log = wait_until("the request's log line", logged)
    assert RELAY_KEY not in log
    assert ROUTER_KEY not in log
    assert "secret prompt text" not in log


def test_metrics_parse_and_move(client, gateway):
    """`/metrics` is valid Prometheus text (parsed by the reference client's parser) and its
    counters move as requests go through."""
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    def scrape():
        req = urllib.request.Request(
            gateway["base_url"].rsplit("/v1", 1)[0] + "/metrics",
            headers={"authorization": f"Bearer {ROUTER_KEY}"},
        )
        with urllib.request.urlopen(req, timeout=5) as r:
            assert r.headers["content-type"].startswith("text/plain")
            families = {f.name: f for f in text_string_to_metric_families(r.read().decode())}
        return families

    def total(families, name, **labels):
        return sum(
            s.value
            for s in families[name].samples
            if s.name.endswith("_total") or s.name == name
            if all(s.labels.get(k) == v for k, v in labels.items())
        )

    before = scrape()
    for name in ["llm_router_requests", "llm_router_router_stage_seconds", "llm_router_first_byte_seconds",
                 "llm_router_request_duration_seconds", "llm_router_tokens", "llm_router_cost_usd",
                 "llm_router_fallback_policy", "llm_router_cooldowns", "llm_router_in_flight_requests"]:
        assert name in before, name
    n0 = total(before, "llm_router_requests", model="auto")
    client.chat.completions.create(model="auto", messages=[{"role": "user", "content": "count me"}])
    # Counted as the request ends, which may be just after the client has the answer.
    def counted():
        families = scrape()
        return families if total(families, "llm_router_requests", model="auto") > n0 else None

    after = wait_until("the request counted", counted)
    assert total(after, "llm_router_requests", model="auto") == n0 + 1
    hist = {s.name: s.value for s in after["llm_router_router_stage_seconds"].samples if not s.labels.get("le")}
    assert hist["llm_router_router_stage_seconds_count"] >= 1
