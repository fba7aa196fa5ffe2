"""Driver of bench/mdata/bench.sh: raw v2 frames (the same bytes as
cloud-init's JoyentMetadataClient) over the containers' sockets."""
import base64
import binascii
import http.client
import json
import multiprocessing
import os
import socket
import sys
import time

root, vm_a, vm_b = sys.argv[1:4]


def sockpath(u):
    return "%s/run/vms/%s/zonecontrol/metadata.sock" % (root, u)


class Client:
    def __init__(self, u):
        self.s = socket.socket(socket.AF_UNIX)
        self.s.connect(sockpath(u))
        self.f = self.s.makefile("rwb")
        self.n = 0
        self.f.write(b"NEGOTIATE V2\n")
        self.f.flush()
        assert self.f.readline() == b"V2_OK\n"

    def req(self, op, arg=None):
        self.n += 1
        body = "%08x %s" % (self.n, op) + (" " + base64.b64encode(arg.encode()).decode() if arg else "")
        crc = binascii.crc32(body.encode()) & 0xFFFFFFFF
        self.f.write(("V2 %d %08x %s\n" % (len(body), crc, body)).encode())
        self.f.flush()
        line = self.f.readline().decode()
        assert line.split(" ")[4] in ("SUCCESS", "NOTFOUND"), line
        return line


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(len(v) * p / 100))]


def show(name, v):
    print("%-44s p50 %7.3f ms   p99 %7.3f ms   (n=%d)" % (name, pct(v, 50) * 1e3, pct(v, 99) * 1e3, len(v)))


def gets(u, n=1000, key="sdc:hostname"):
    c = Client(u)
    out = []
    for _ in range(n):
        t = time.perf_counter()
        c.req("GET", key)
        out.append(time.perf_counter() - t)
    return out


def http_gets(u, n=1000):
    conn = http.client.HTTPConnection(os.environ["VMINFOD_ADDR"])
    out = []
    for _ in range(n):
        t = time.perf_counter()
        conn.request("GET", "/vms/" + u)
        json.loads(conn.getresponse().read())["hostname"]
        out.append(time.perf_counter() - t)
    return out


def flood(u, stop):
    c = Client(u)
    while not stop.is_set():
        c.req("GET", "k")


gets(vm_a, 100)  # warm up
show("GET sdc:hostname, 1,000 sequential", gets(vm_a))
show("GET of a 3 KB customer key, 1,000 sequential", gets(vm_a, key="k"))
show("alternative: vminfod HTTP GET /vms/<uuid> + parse", http_gets(vm_a))

stop = multiprocessing.Event()
floods = [multiprocessing.Process(target=flood, args=(vm_b, stop)) for _ in range(2)]
for p in floods:
    p.start()
time.sleep(0.3)
show("GET while another VM floods (2 connections)", gets(vm_a))
stop.set()
for p in floods:
    p.join()

# PUT round trip and PUT -> modify event on /events.
ev = http.client.HTTPConnection(os.environ["VMINFOD_ADDR"])
ev.request("GET", "/events?vms=" + vm_a)
stream = ev.getresponse()
stream.readline()  # ready
c = Client(vm_a)
rt, evlat = [], []
for i in range(30):
    inner = base64.b64encode(b"bench").decode() + " " + base64.b64encode(("v%d" % i).encode()).decode()
    t = time.perf_counter()
    c.req("PUT", inner)
    rt.append(time.perf_counter() - t)
    while True:
        e = json.loads(stream.readline())
        if e.get("type") == "modify" and any(ch.get("prettyPath") == "customer_metadata.bench" for ch in e.get("changes", [])):
            break
    evlat.append(time.perf_counter() - t)
show("PUT round trip (vm_update + read-after-write)", rt)
show("PUT sent -> modify event read on /events", evlat)
