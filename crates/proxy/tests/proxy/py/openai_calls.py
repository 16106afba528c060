"""Drives the official OpenAI SDK through the proxy; prints one JSON object.

The SDK is configured only by the environment a sandbox gets
(OPENAI_BASE_URL, a dummy OPENAI_API_KEY, proxy variables).
"""
import json
import sys

import openai

MSG = [{"role": "user", "content": "hi"}]


def ok(client):
    out = {}
    r = client.chat.completions.create(model="gpt-4o-mini", messages=MSG)
    out["chat"] = r.choices[0].message.content
    out["chat_tokens"] = r.usage.total_tokens
    chunks = list(client.chat.completions.create(model="gpt-4o-mini", messages=MSG, stream=True))
    # choices[0] on every chunk: a usage-only chunk the client did not ask
    # for would raise IndexError here, as it would in many agents.
    out["stream"] = "".join(c.choices[0].delta.content or "" for c in chunks)
    e = client.embeddings.create(model="text-embedding-3-small", input="hi")
    out["embedding"] = e.data[0].embedding
    r = client.responses.create(model="gpt-4o", input="hi")
    out["responses"] = r.output_text
    events = list(client.responses.create(model="gpt-4o", input="hi", stream=True))
    out["responses_stream"] = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    return out


def chat(client):
    r = client.chat.completions.create(model="gpt-4o-mini", messages=MSG)
    return {"chat": r.choices[0].message.content}


def error_of(call):
    try:
        call()
    except openai.APIStatusError as e:
        return {"status": e.status_code, "message": str(e)}
    return {"status": 200}


def denied_model(client):
    return error_of(lambda: client.chat.completions.create(model="gpt-5-secret", messages=MSG))


def repeat(client):
    base = client.base_url
    return {"statuses": [error_of(lambda: client.chat.completions.create(model="gpt-4o", messages=MSG))["status"]
                         for _ in range(int(sys.argv[2]) if len(sys.argv) > 2 else 3)], "base": str(base)}


def main():
    client = openai.OpenAI(max_retries=0)
    mode = sys.argv[1]
    out = {"ok": ok, "chat": chat, "denied-model": denied_model, "repeat": repeat}[mode](client)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
