#!/usr/bin/env python3
"""Raw frames for tests/e2e/net-filter.bats (AF_PACKET; run inside a netns).

  netpkt.py send IFNAME KIND MARKER SRC_MAC [ARG]   KIND: ip (ARG: source IPv4),
        arp (ARG: sender IPv4), dhcp-offer (ARG: source IPv4), ra, ethertype
        With NETPKT_END="MAC IPv4" in the environment, a legitimate frame
        carrying MARKER-end follows, so a counter knows all were sent.
  netpkt.py count IFNAME MARKER SECONDS [READY]   frames carrying MARKER seen
        on IFNAME until MARKER-end or SECONDS (READY: created once listening)
  netpkt.py discover IFNAME MAC SECONDS   DHCP DISCOVER; prints "OFFER <ip>"
"""
import os
import socket
import struct
import sys
import time

BCAST = b"\xff" * 6


def mac_bytes(m):
    return bytes(int(x, 16) for x in m.split(":"))


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def ipv4(src, dst, proto, payload):
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 1, 0, 64, proto, 0,
                    socket.inet_aton(src), socket.inet_aton(dst))
    h = h[:10] + struct.pack("!H", csum(h)) + h[12:]
    return h + payload


def udp(sport, dport, payload):
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


def eui64_ll(mac):
    b = bytearray(mac_bytes(mac))
    b[0] ^= 2
    return b"\xfe\x80" + b"\0" * 6 + bytes(b[:3]) + b"\xff\xfe" + bytes(b[3:])


def frame(kind, marker, src_mac, arg):
    m = mac_bytes(src_mac)
    mk = marker.encode()
    if kind == "ip":
        return BCAST + m + b"\x08\x00" + ipv4(arg, "255.255.255.255", 17, udp(40000, 40000, mk))
    if kind == "dhcp-offer":
        bootp = bytes([2, 1, 6, 0]) + b"\0" * 232 + mk
        return BCAST + m + b"\x08\x00" + ipv4(arg, "255.255.255.255", 17, udp(67, 68, bootp))
    if kind == "arp":
        body = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, m, socket.inet_aton(arg), b"\0" * 6,
                           socket.inet_aton("10.50.0.1"))
        return BCAST + m + b"\x08\x06" + body + mk
    if kind == "ra":
        icmp = bytes([134, 0, 0, 0, 64, 0, 0, 0]) + b"\0" * 8 + mk
        ip6 = struct.pack("!IHBB16s16s", 6 << 28, len(icmp), 58, 255, eui64_ll(src_mac),
                          socket.inet_pton(socket.AF_INET6, "ff02::1"))
        return b"\x33\x33\x00\x00\x00\x01" + m + b"\x86\xdd" + ip6 + icmp
    if kind == "ethertype":
        return BCAST + m + b"\x88\xb5" + mk + b"\0" * 32
    raise SystemExit("unknown kind " + kind)


def raw(ifname):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
    s.bind((ifname, 0))
    return s


def main(a):
    if a[0] == "send":
        s = raw(a[1])
        f = frame(a[2], a[3], a[4], a[5] if len(a) > 5 else None)
        for _ in range(3):
            s.send(f)
            time.sleep(0.02)
        if os.environ.get("NETPKT_END"):
            mac, ip = os.environ["NETPKT_END"].split()
            time.sleep(0.05)
            s.send(frame("ip", a[3] + "-end", mac, ip))
    elif a[0] == "count":
        s = raw(a[1])
        mk = a[2].encode()
        if len(a) > 4:
            open(a[4], "w").close()
        end = time.time() + float(a[3])
        n = 0
        while True:
            left = end - time.time()
            if left <= 0:
                break
            s.settimeout(left)
            try:
                data, addr = s.recvfrom(65535)
            except socket.timeout:
                break
            if addr[2] == socket.PACKET_OUTGOING:
                continue
            if mk + b"-end" in data:
                break
            if mk in data:
                n += 1
        print(n)
    elif a[0] == "discover":
        s = raw(a[1])
        m = mac_bytes(a[2])
        xid = os.getpid() & 0xFFFFFFFF
        bootp = struct.pack("!BBBBIHH4s4s4s4s16s64s128s", 1, 1, 6, 0, xid, 0, 0x8000, b"\0" * 4, b"\0" * 4,
                            b"\0" * 4, b"\0" * 4, m + b"\0" * 10, b"", b"")
        bootp += b"\x63\x82\x53\x63" + bytes([53, 1, 1, 255])
        f = BCAST + m + b"\x08\x00" + ipv4("0.0.0.0", "255.255.255.255", 17, udp(68, 67, bootp))
        end = time.time() + float(a[3])
        nxt = 0
        while time.time() < end:
            if time.time() >= nxt:
                s.send(f)
                nxt = time.time() + 1
            s.settimeout(0.2)
            try:
                data = s.recv(65535)
            except socket.timeout:
                continue
            if len(data) < 14 + 20 + 8 + 240 or data[12:14] != b"\x08\x00" or data[23] != 17:
                continue
            ihl = (data[14] & 15) * 4
            u = 14 + ihl
            sport, dport = struct.unpack("!HH", data[u:u + 4])
            b = data[u + 8:]
            if sport == 67 and b[0] == 2 and struct.unpack("!I", b[4:8])[0] == xid:
                print("OFFER", socket.inet_ntoa(b[16:20]))
                return 0
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
