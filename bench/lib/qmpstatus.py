"""Shared by the start benchmarks: is the QEMU behind a QMP socket running?"""
import json
import socket


def qmp_running(path):
    s = socket.socket(socket.AF_UNIX)
    try:
        s.connect(path)
    except OSError:
        s.close()
        return False
    f = s.makefile("rw")
    f.readline()
    m = {}
    for c in ('{"execute":"qmp_capabilities"}', '{"execute":"query-status"}'):
        f.write(c + "\n")
        f.flush()
        while True:
            m = json.loads(f.readline())
            if "event" not in m:
                break
    s.close()
    return m.get("return", {}).get("status") == "running"
