"""Runs a command on a pseudo-terminal and plays a session against it, as a
person at a terminal would; prints everything the terminal showed.

Usage: pty_session.py STEPS -- COMMAND ARGS...

STEPS is a JSON list of steps, played in order:
  ["size", rows, cols]   set the terminal size (before the first step that
                         waits, it is the size the command starts with)
  ["winch"]              tell the command the size changed (SIGWINCH)
  ["wait", text]         wait (up to 20 s) until the screen shows text
  ["echo_off"]           wait (up to 20 s) until the command has turned the
                         terminal's echo off (as a password prompt does)
  ["type", text]         type text
  ["sleep", seconds]
Typed text is sent only when its step comes, so nothing is echoed by the
terminal before the command has set it up. At the end, the session waits
for the command to exit (up to 10 s).
"""
import fcntl
import json
import os
import pty
import select
import signal
import struct
import sys
import termios
import time

steps = json.loads(sys.argv[1])
argv = sys.argv[sys.argv.index("--") + 1:]
pid, fd = pty.fork()
if pid == 0:
    os.execv(argv[0], argv)

screen = b""


def read_until(marker, limit):
    global screen
    end = time.time() + limit
    while (marker is None or marker not in screen) and time.time() < end:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            return
        if not chunk:
            return
        screen += chunk


for step in steps:
    kind = step[0]
    if kind == "size":
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", step[1], step[2], 0, 0))
    elif kind == "winch":
        os.kill(pid, signal.SIGWINCH)
    elif kind == "wait":
        read_until(step[1].encode(), 20)
    elif kind == "echo_off":
        end = time.time() + 20
        while termios.tcgetattr(fd)[3] & termios.ECHO and time.time() < end:
            time.sleep(0.01)
    elif kind == "type":
        os.write(fd, step[1].encode())
    elif kind == "sleep":
        time.sleep(step[1])
read_until(None, 10)
sys.stdout.write(screen.decode(errors="replace"))
