"""Requests across a sandbox's expiry, through its HTTP proxy.

Usage: hammer.py URL EXPIRES. One GET of URL first; then, from 50 ms before
UNIX time EXPIRES, POSTs to URL on four kept-alive connections at once, each
as fast as it is answered (reconnecting when it drops), for at most 3 s
more: the sandbox's end should stop this process long before. Prints one
line `<unix time> <status or error> <body>` per request.
"""
import http.client
import sys
import threading
import time
from urllib.parse import urlsplit

URL = sys.argv[1]
EXPIRES = float(sys.argv[2])
HOST = urlsplit(URL).netloc
LOCK = threading.Lock()


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
    with LOCK:
        print(f"{start:.4f} {outcome}", flush=True)
    return ok


def post_until_stopped():
    conn = connect()
    while time.time() < EXPIRES + 3:
        if not send(conn, "POST"):
            conn.close()
            conn = connect()
            time.sleep(0.005)


def main():
    send(connect(), "GET")
    time.sleep(max(0.0, EXPIRES - 0.05 - time.time()))
    threads = [threading.Thread(target=post_until_stopped) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("survived", flush=True)


if __name__ == "__main__":
    main()
