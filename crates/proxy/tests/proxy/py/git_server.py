"""A git smart-HTTP server: Python's CGI handler running `git http-backend`.

Usage: git_server.py PROJECT_ROOT CGI_DIR. Prints the port, then serves
http://127.0.0.1:PORT/cgi-bin/git/<repo>.git until killed.
"""
import http.server
import os
import sys
import warnings

warnings.simplefilter("ignore", DeprecationWarning)


class Handler(http.server.CGIHTTPRequestHandler):
    cgi_directories = ["/cgi-bin"]
    # The forking path drops to user nobody when run as root, who may not
    # read the test's repositories; the subprocess path runs as we do.
    have_fork = False

    def log_message(self, *args):
        pass


def main():
    root, cgi_dir = sys.argv[1], sys.argv[2]
    os.environ["GIT_PROJECT_ROOT"] = root
    os.environ["GIT_HTTP_EXPORT_ALL"] = "1"
    os.chdir(cgi_dir)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
