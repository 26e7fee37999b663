"""A raw socket-API client for the job tests: just enough msgpack (maps of up to
15 keys, ints, strings, bin) to open jobs, send task frames and read replies
and result frames, with no third-party module."""
import struct
def enc(o):
    if o is None: return b"\xc0"
    if o is True: return b"\xc3"
    if o is False: return b"\xc2"
    if isinstance(o, int):
        if 0 <= o < 128: return bytes([o])
        if 0 <= o < 2**8: return b"\xcc" + struct.pack(">B", o)
        if 0 <= o < 2**16: return b"\xcd" + struct.pack(">H", o)
        if 0 <= o < 2**32: return b"\xce" + struct.pack(">I", o)
        return b"\xcf" + struct.pack(">Q", o)
    if isinstance(o, str):
        b = o.encode()
        if len(b) < 32: return bytes([0xa0 | len(b)]) + b
        return b"\xd9" + bytes([len(b)]) + b
    if isinstance(o, bytes):
        if len(o) < 256: return b"\xc4" + bytes([len(o)]) + o
        if len(o) < 65536: return b"\xc5" + struct.pack(">H", len(o)) + o
        return b"\xc6" + struct.pack(">I", len(o)) + o
    if isinstance(o, dict):
        assert len(o) < 16
        return bytes([0x80 | len(o)]) + b"".join(enc(k) + enc(v) for k, v in o.items())
    raise TypeError(o)
def frame(o):
    b = enc(o); return struct.pack(">I", len(b)) + b
def dec(b, i=0):
    t = b[i]
    if t < 0x80: return t, i + 1
    if 0x80 <= t <= 0x8f:
        n = t & 15; d = {}; i += 1
        for _ in range(n):
            k, i = dec(b, i); v, i = dec(b, i); d[k] = v
        return d, i
    if 0x90 <= t <= 0x9f:
        n = t & 15; a = []; i += 1
        for _ in range(n):
            v, i = dec(b, i); a.append(v)
        return a, i
    if 0xa0 <= t <= 0xbf:
        n = t & 31; return b[i+1:i+1+n].decode(), i + 1 + n
    if t >= 0xe0: return t - 256, i + 1
    if t == 0xc0: return None, i + 1
    if t == 0xc2: return False, i + 1
    if t == 0xc3: return True, i + 1
    fmt = {0xcc: ">B", 0xcd: ">H", 0xce: ">I", 0xcf: ">Q", 0xd0: ">b", 0xd1: ">h", 0xd2: ">i", 0xd3: ">q", 0xca: ">f", 0xcb: ">d"}
    if t in fmt:
        n = struct.calcsize(fmt[t]); return struct.unpack(fmt[t], b[i+1:i+1+n])[0], i + 1 + n
    if t in (0xd9, 0xc4): n = b[i+1]; s = b[i+2:i+2+n]; return (s.decode() if t == 0xd9 else s), i + 2 + n
    if t in (0xda, 0xc5): n = struct.unpack(">H", b[i+1:i+3])[0]; s = b[i+3:i+3+n]; return (s.decode() if t == 0xda else s), i + 3 + n
    if t in (0xdb, 0xc6): n = struct.unpack(">I", b[i+1:i+5])[0]; s = b[i+5:i+5+n]; return (s.decode() if t == 0xdb else s), i + 5 + n
    if t == 0xdc:
        n = struct.unpack(">H", b[i+1:i+3])[0]; i += 3; a = []
        for _ in range(n):
            v, i = dec(b, i); a.append(v)
        return a, i
    if t == 0xde:
        n = struct.unpack(">H", b[i+1:i+3])[0]; i += 3; d = {}
        for _ in range(n):
            k, i = dec(b, i); v, i = dec(b, i); d[k] = v
        return d, i
    raise ValueError(hex(t))


class Conn:
    """One API connection: frames out, frames in (msgpack values)."""

    def __init__(self, path, timeout=30.0):
        import socket
        self.s = socket.socket(socket.AF_UNIX)
        self.s.settimeout(timeout)
        self.s.connect(path)
        self.buf = b""

    def send(self, obj):
        self.s.sendall(frame(obj))

    def recv(self):
        while True:
            if len(self.buf) >= 4:
                n = struct.unpack(">I", self.buf[:4])[0]
                if len(self.buf) >= 4 + n:
                    v = dec(self.buf[4:4 + n])[0]
                    self.buf = self.buf[4 + n:]
                    return v
            chunk = self.s.recv(1 << 16)
            if not chunk:
                raise EOFError("fanoutd closed the connection")
            self.buf += chunk

    def call(self, obj):
        self.send(obj)
        return self.recv()

    def close(self):
        self.s.close()


def call(path, obj):
    """One request on a connection of its own."""
    c = Conn(path)
    try:
        return c.call(obj)
    finally:
        c.close()


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        return int(next(l for l in f if l.startswith("VmRSS")).split()[1])
