# Draws the app icons (static/icons/icon-{192,512}.png) from the favicon's
# shape — an alcove's arch and a dot on the accent green — with no image
# library: python3 client-web/make-icons.py
import math, os, struct, zlib

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static", "icons")


def colour(x, y):
    # The favicon's 32-unit box: a rounded square (r 7), the arch's stroke
    # (width 3) and the dot (r 2.5).
    cx, cy = min(max(x, 7), 25), min(max(y, 7), 25)
    if (x - cx) ** 2 + (y - cy) ** 2 > 49:
        return (0, 0, 0, 0)
    d = 1e9
    if 14 <= y <= 25:
        d = min(d, abs(x - 8), abs(x - 24))
    if y <= 14:
        d = min(d, abs(math.hypot(x - 16, y - 14) - 8))
    if y > 25:
        d = min(d, math.hypot(x - 8, y - 25), math.hypot(x - 24, y - 25))
    white = d <= 1.5 or math.hypot(x - 16, y - 18) <= 2.5
    return (255, 255, 255, 255) if white else (0x2F, 0x6A, 0x5A, 255)


def png(size, path):
    s = size / 32.0
    rows = []
    for py in range(size):
        row = bytearray([0])
        for px in range(size):
            acc = [0, 0, 0, 0]
            for sy in (0.25, 0.75):
                for sx in (0.25, 0.75):
                    c = colour((px + sx) / s, (py + sy) / s)
                    for i in range(4):
                        acc[i] += c[i]
            row += bytes(a // 4 for a in acc)
        rows.append(bytes(row))

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)

    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0))
    data += chunk(b"IDAT", zlib.compress(b"".join(rows), 9)) + chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(data)


for size in (192, 512):
    png(size, os.path.join(HERE, f"icon-{size}.png"))
