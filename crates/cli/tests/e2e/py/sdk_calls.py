"""Drives the official OpenAI and Anthropic SDKs from inside a sandbox,
configured by nothing but the sandbox's environment (OPENAI_BASE_URL,
ANTHROPIC_BASE_URL, dummy keys). Prints one JSON object.

Modes:
  chat            OpenAI chat completion, streamed one, model list
  messages        Anthropic message, streamed one
  denied-models   a model outside each endpoint's allow-list
  repeat ENDPOINT N   N chat completions on another endpoint of the proxy
  linger          chat + messages, prints "ready", then waits for a signal
"""
import json
import os
import signal
import sys

import anthropic
import openai

MSG = [{"role": "user", "content": "hi"}]


def chat(client):
    out = {}
    r = client.chat.completions.create(model="gpt-4o-mini", messages=MSG)
    out["chat"] = r.choices[0].message.content
    out["chat_tokens"] = r.usage.total_tokens
    chunks = list(client.chat.completions.create(model="gpt-4o-mini", messages=MSG, stream=True))
    # choices[0] on every chunk: a usage-only chunk the client did not ask
    # for would raise IndexError here, as it would in many agents.
    out["stream"] = "".join(c.choices[0].delta.content or "" for c in chunks)
    out["models"] = [m.id for m in client.models.list()]
    return out


def messages(client):
    out = {}
    m = client.messages.create(model="claude-haiku-4-5", max_tokens=64, messages=MSG)
    out["text"] = m.content[0].text
    out["tokens"] = m.usage.input_tokens + m.usage.output_tokens
    with client.messages.stream(model="claude-haiku-4-5", max_tokens=64, messages=MSG) as s:
        out["stream"] = "".join(s.text_stream)
        out["stream_output_tokens"] = s.get_final_message().usage.output_tokens
    return out


def status_of(call):
    try:
        call()
    except (openai.APIStatusError, anthropic.APIStatusError) as e:
        return {"status": e.status_code, "message": str(e)}
    return {"status": 200}


def denied_models(oai, ant):
    return {
        "openai": status_of(lambda: oai.chat.completions.create(model="gpt-5-secret", messages=MSG)),
        "anthropic": status_of(lambda: ant.messages.create(model="gpt-4o", max_tokens=8, messages=MSG)),
    }


def repeat(endpoint, n):
    # Another endpoint behind the same proxy: only the name in the path changes.
    base = os.environ["OPENAI_BASE_URL"].replace("/inference/openai/", f"/inference/{endpoint}/")
    client = openai.OpenAI(base_url=base, max_retries=0)
    call = lambda: client.chat.completions.create(model="gpt-4o-mini", messages=MSG)
    return {"calls": [status_of(call) for _ in range(n)]}


def main():
    oai = openai.OpenAI(max_retries=0)
    ant = anthropic.Anthropic(max_retries=0)
    mode = sys.argv[1]
    if mode == "chat":
        out = chat(oai)
    elif mode == "messages":
        out = messages(ant)
    elif mode == "denied-models":
        out = denied_models(oai, ant)
    elif mode == "repeat":
        out = repeat(sys.argv[2], int(sys.argv[3]))
    elif mode == "linger":
        # A long-lived agent: its memory holds whatever its calls brought in.
        out = {**chat(oai), **messages(ant)}
        print(json.dumps(out), flush=True)
        print("ready", flush=True)
        signal.pause()
        return
    else:
        raise SystemExit(f"unknown mode {mode}")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
