#!/usr/bin/python3
"""cloud-init's own SmartOS metadata client (Debian's cloud-init package,
cloudinit.sources.DataSourceSmartOS) as the acceptance client of vmadm's
metadata service, run on the host with no guest.

usage: mdata-client.py socket|serial PATH UUID GOLDEN_NETWORK_JSON

socket: JoyentMetadataSocketClient on a container's metadata.sock;
serial: JoyentMetadataSerialClient on a pty bridged to an HVM's COM2
chardev (the flush of newlines until "invalid command", then NEGOTIATE).
Checks negotiate, GETs, get_json, KEYS, PUT/DELETE seen by `vmadm get`,
a refused sdc: PUT, a bad CRC then a good request, and
convert_smartos_network_data on our sdc:nics against the golden network
config.  Prints one line per check; exits 1 if any failed."""
import base64
import binascii
import json
import subprocess
import sys

from cloudinit.sources import DataSourceSmartOS as ds

mode, path, uuid, golden = sys.argv[1:5]
failed = []


def check(name, got, want):
    ok = got == want
    print("%s %s: %r%s" % ("ok" if ok else "FAIL", name, got, "" if ok else " (want %r)" % (want,)))
    if not ok:
        failed.append(name)


def vmget():
    out = subprocess.run(["vmadm", "get", uuid], check=True, capture_output=True, text=True).stdout
    return json.loads(out)


if mode == "socket":
    c = ds.JoyentMetadataSocketClient(path, smartos_type=ds.SMARTOS_ENV_LX_BRAND)
else:
    c = ds.JoyentMetadataSerialClient(path, timeout=10, smartos_type=ds.SMARTOS_ENV_KVM)
c.open_transport()  # serial: flush + NEGOTIATE V2; socket: NEGOTIATE V2
print("ok negotiate")

check("sdc:uuid", c.get("sdc:uuid"), uuid)
check("sdc:hostname", c.get("sdc:hostname"), "web0")
check("customer key", c.get("hello"), "world")
check("absent key", c.get("no-such-key"), None)
nics = c.get_json("sdc:nics")
check("sdc:nics[0].mac", nics[0]["mac"], "52:54:00:12:34:56")
resolvers = c.get_json("sdc:resolvers")
check("sdc:resolvers", resolvers, ["10.0.0.2", "8.8.8.8"])
routes = c.get_json("sdc:routes")
check("list", sorted(c.list()), ["hello", "root_authorized_keys", "user-script"])

check("put", c.put("from-guest", "v1 with spaces"), "OK")
check("put seen by vmadm get", vmget()["customer_metadata"].get("from-guest"), "v1 with spaces")
check("get after put", c.get("from-guest"), "v1 with spaces")
check("delete", c.delete("from-guest"), "OK")
check("delete seen by vmadm get", "from-guest" in vmget()["customer_metadata"], False)
check("sdc: put refused", c.put("sdc:hostname", "evil"), None)
check("sdc: delete refused", c.delete("sdc:uuid"), None)
check("hostname unchanged", vmget()["hostname"], "web0")

# A frame with a bad CRC gets a FAILURE frame for its request id, and the
# next good request works.
body = "0badc0de GET " + base64.b64encode(b"sdc:uuid").decode()
c._write("V2 %d 00000000 %s\n" % (len(body), body))
reply = c._readline()
check("bad crc answered FAILURE", reply.split(" ")[3:5], ["0badc0de", "FAILURE"])
want_crc = "%08x" % (binascii.crc32(" ".join(reply.split(" ")[3:]).encode()) & 0xFFFFFFFF)
check("failure frame crc", reply.split(" ")[2], want_crc)
check("good request after bad crc", c.get("sdc:uuid"), uuid)

net = ds.convert_smartos_network_data(network_data=nics, dns_servers=resolvers, routes=routes)
with open(golden) as f:
    check("network config", net, json.load(f))
c.close_transport()
sys.exit(1 if failed else 0)
