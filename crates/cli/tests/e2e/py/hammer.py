"""Requests across a sandbox's expiry, through its HTTP proxy.

Usage: hammer.py URL UNTIL. One GET of URL first; then, from shortly before
UNIX time UNTIL, POSTs to URL on a kept-alive connection as fast as they are
answered (reconnecting when the connection drops), for at most 3 s more:
the sandbox's end should stop this process long before. Prints one line
`<unix time> <status or error> <body>` per request.
"""
import http.client
import sys
import time
from urllib.parse import urlsplit

URL = sys.argv[1]
UNTIL = float(sys.argv[2])
HOST = urlsplit(URL).netloc


def connect():
    return http.client.HTTPConnection("127.0.0.1", 3128, timeout=2)


def send(conn, method):
    start = time.time()
    try:
        conn.request(method, URL, body=b"x" if method == "POST" else None, headers={"Host": HOST})
        r = conn.getresponse()
        body = r.read().decode(errors="replace").strip().replace("\n", " ")
        outcome, ok = f"{r.status} {body[:300]}", True
    except Exception as e:
        outcome, ok = f"error {type(e).__name__}: {e}", False
    print(f"{start:.3f} {outcome}", flush=True)
    return ok


def main():
    send(connect(), "GET")
    time.sleep(max(0.0, UNTIL - 0.3 - time.time()))
    conn = connect()
    while time.time() < UNTIL + 3:
        if not send(conn, "POST"):
            conn.close()
            conn = connect()
            time.sleep(0.005)
    print("survived", flush=True)


if __name__ == "__main__":
    main()
