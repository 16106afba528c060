"""Drives the official Anthropic SDK through the proxy; prints one JSON object."""
import json
import sys

import anthropic

MSG = [{"role": "user", "content": "hi"}]


def ok(client):
    out = {}
    m = client.messages.create(model="claude-sonnet-4-5", max_tokens=64, messages=MSG)
    out["text"] = m.content[0].text
    out["tokens"] = m.usage.input_tokens + m.usage.output_tokens
    with client.messages.stream(model="claude-haiku-4-5", max_tokens=64, messages=MSG) as s:
        out["stream"] = "".join(s.text_stream)
        out["stream_output_tokens"] = s.get_final_message().usage.output_tokens
    return out


def denied_model(client):
    try:
        client.messages.create(model="gpt-4o", max_tokens=8, messages=MSG)
    except anthropic.APIStatusError as e:
        return {"status": e.status_code, "message": str(e)}
    return {"status": 200}


def main():
    client = anthropic.Anthropic(max_retries=0)
    out = {"ok": ok, "denied-model": denied_model}[sys.argv[1]](client)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
