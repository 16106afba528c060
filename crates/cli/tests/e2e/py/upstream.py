"""The local stand-in for the internet in the access-proxy e2e tests.

Usage: upstream.py BIND_IP WORK_DIR. The real credentials come from the
environment (UPSTREAM_API_TOKEN, UPSTREAM_OPENAI_KEY, UPSTREAM_ANTHROPIC_KEY).
Serves, on BIND_IP:

- api (HTTPS): any path echoes the request's method, path, query and headers
  as JSON; 401 unless `Authorization: Bearer <api token>` arrived;
- llm (HTTPS): the OpenAI (/v1/chat/completions, streamed too, /v1/models)
  and Anthropic (/v1/messages, streamed too) shapes; 401 unless the real key
  arrived in the dialect's header and no other credential did;
- git (plain HTTP): `git http-backend` over CGI, repositories in
  WORK_DIR/repos (anonymous push allowed: only policy refuses it).

The TLS certificate is for BIND_IP, from a CA written to WORK_DIR/ca.pem.
Every request is logged as one JSON line in WORK_DIR/requests.jsonl. A real
key is never sent back: where the echo would show it, it says "<real key>".
Prints {"api": port, "llm": port, "git": port} once serving.
"""
import http.server
import json
import os
import ssl
import subprocess
import sys
import threading
import warnings
from urllib.parse import urlsplit

warnings.simplefilter("ignore", DeprecationWarning)

API_TOKEN = os.environ["UPSTREAM_API_TOKEN"]
OPENAI_KEY = os.environ["UPSTREAM_OPENAI_KEY"]
ANTHROPIC_KEY = os.environ["UPSTREAM_ANTHROPIC_KEY"]
REAL = {API_TOKEN, OPENAI_KEY, ANTHROPIC_KEY, "Bearer " + API_TOKEN, "Bearer " + OPENAI_KEY}
LOG_LOCK = threading.Lock()


def masked(value):
    return "<real key>" if value in REAL else value


def make_certs(work, ip):
    """A CA and a leaf for `ip`, with the openssl CLI."""
    def run(*args):
        subprocess.run(["openssl", *args], cwd=work, check=True, capture_output=True)

    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    run("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
        "-subj", "/CN=e2e upstream CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    run("req", "-new", *ec, "-keyout", "leaf.key", "-out", "leaf.csr", "-subj", "/CN=" + ip)
    with open(os.path.join(work, "leaf.ext"), "w") as f:
        f.write("basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                f"extendedKeyUsage=serverAuth\nsubjectAltName=IP:{ip}\n")
    run("x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "leaf.pem", "-days", "2", "-extfile", "leaf.ext")


class Base(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    role = "?"
    log_path = None

    def log_message(self, *args):
        pass

    def setup(self):
        # The TLS handshake runs here, in the connection's thread, not in
        # the accept loop where one slow client would stall the others.
        if hasattr(self.request, "do_handshake"):
            self.request.do_handshake()
        super().setup()

    def read_body(self):
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            out = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("content-length") or 0))

    def record(self, **extra):
        headers = {k.lower(): masked(v) for k, v in self.headers.items()}
        line = {"role": self.role, "method": self.command, "path": urlsplit(self.path).path,
                "headers": headers, **extra}
        with LOG_LOCK, open(self.log_path, "a") as f:
            f.write(json.dumps(line) + "\n")

    def send_json(self, status, value):
        body = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def send_events(self, events):
        """A text/event-stream response, one chunk per event."""
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        for e in events:
            data = e.encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")

    def do_GET(self):
        self.handle_any()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_GET


class Api(Base):
    role = "api"

    def handle_any(self):
        body = self.read_body()
        url = urlsplit(self.path)
        ok = self.headers.get("authorization") == "Bearer " + API_TOKEN
        self.record(credential_ok=ok)
        echo = {"method": self.command, "path": url.path, "query": url.query,
                "headers": {k.lower(): masked(v) for k, v in self.headers.items()},
                "body_len": len(body)}
        self.send_json(200 if ok else 401, echo)


class Llm(Base):
    role = "llm"

    def handle_any(self):
        body = self.read_body()
        path = urlsplit(self.path).path
        auth, xkey = self.headers.get("authorization"), self.headers.get("x-api-key")
        if path.startswith("/v1/messages"):
            ok = xkey == ANTHROPIC_KEY and auth is None
        else:
            ok = auth == "Bearer " + OPENAI_KEY and xkey is None
        req = json.loads(body) if body else {}
        model = req.get("model", "")
        self.record(credential_ok=ok, model=model, stream=bool(req.get("stream")))
        if not ok:
            msg = f"wrong credentials arrived: authorization={masked(auth)!r} x-api-key={masked(xkey)!r}"
            return self.send_json(401, {"type": "error", "error": {"type": "authentication_error", "message": msg}})
        stream = req.get("stream") is True
        if path == "/v1/models" and self.command == "GET":
            return self.send_json(200, {"object": "list", "data": [
                {"id": "gpt-4o-mini", "object": "model", "created": 1, "owned_by": "e2e"}]})
        if path == "/v1/chat/completions" and stream:
            usage = (req.get("stream_options") or {}).get("include_usage") is True
            return self.send_events(chat_events(model, usage))
        if path == "/v1/chat/completions":
            return self.send_json(200, {
                "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "hello from gpt"},
                             "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}})
        if path == "/v1/messages" and stream:
            return self.send_events(anthropic_events(model))
        if path == "/v1/messages":
            return self.send_json(200, {
                "id": "msg_1", "type": "message", "role": "assistant", "model": model,
                "content": [{"type": "text", "text": "hello from claude"}],
                "stop_reason": "end_turn", "stop_sequence": None,
                "usage": {"input_tokens": 13, "output_tokens": 9}})
        if path == "/v1/messages/count_tokens":
            return self.send_json(200, {"input_tokens": 13})
        self.send_json(404, {"error": {"message": f"no route {path}"}})


def chat_events(model, usage):
    def chunk(delta, finish):
        c = {"id": "chatcmpl-2", "object": "chat.completion.chunk", "created": 1, "model": model,
             "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
        if usage:
            c["usage"] = None
        return c
    events = [chunk({"role": "assistant", "content": "hello "}, None),
              chunk({"content": "stream"}, None), chunk({}, "stop")]
    if usage:
        events.append({"id": "chatcmpl-2", "object": "chat.completion.chunk", "created": 1,
                       "model": model, "choices": [],
                       "usage": {"prompt_tokens": 11, "completion_tokens": 2, "total_tokens": 13}})
    return [f"data: {json.dumps(e)}\n\n" for e in events] + ["data: [DONE]\n\n"]


def anthropic_events(model):
    events = [
        ("message_start", {"type": "message_start", "message": {
            "id": "msg_2", "type": "message", "role": "assistant", "model": model, "content": [],
            "stop_reason": None, "stop_sequence": None,
            "usage": {"input_tokens": 13, "output_tokens": 1}}}),
        ("content_block_start", {"type": "content_block_start", "index": 0,
                                 "content_block": {"type": "text", "text": ""}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                 "delta": {"type": "text_delta", "text": "hello "}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                 "delta": {"type": "text_delta", "text": "stream"}}),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("message_delta", {"type": "message_delta",
                           "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                           "usage": {"output_tokens": 9}}),
        ("message_stop", {"type": "message_stop"}),
    ]
    return [f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in events]


class Git(http.server.CGIHTTPRequestHandler):
    cgi_directories = ["/cgi-bin"]
    # The forking path drops to user nobody when run as root, who may not
    # read the test's repositories; the subprocess path runs as we do.
    have_fork = False

    def log_message(self, *args):
        pass


def serve(handler, ip, tls):
    server = http.server.ThreadingHTTPServer((ip, 0), handler)
    server.daemon_threads = True
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True,
                                        do_handshake_on_connect=False)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server.server_address[1]


def git_setup(work):
    """Git's CGI script; the repositories are the test's to create."""
    cgi = os.path.join(work, "cgi", "cgi-bin")
    os.makedirs(cgi, exist_ok=True)
    script = os.path.join(cgi, "git")
    with open(script, "w") as f:
        f.write("#!/bin/sh\nexec git http-backend\n")
    os.chmod(script, 0o755)
    os.environ["GIT_PROJECT_ROOT"] = os.path.join(work, "repos")
    os.environ["GIT_HTTP_EXPORT_ALL"] = "1"
    os.chdir(os.path.join(work, "cgi"))


def main():
    ip, work = sys.argv[1], os.path.abspath(sys.argv[2])
    os.makedirs(work, exist_ok=True)
    make_certs(work, ip)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(os.path.join(work, "leaf.pem"), os.path.join(work, "leaf.key"))
    Base.log_path = os.path.join(work, "requests.jsonl")
    git_setup(work)
    ports = {"api": serve(Api, ip, tls), "llm": serve(Llm, ip, tls), "git": serve(Git, ip, None)}
    print(json.dumps(ports), flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
