"""A real SMTP server on loopback for the reminder tests (aiosmtpd).

Listens on 127.0.0.1, port 0 (the kernel's choice), prints the port on the
first line of stdout, and writes every message it accepts to the folder
given as its first argument, one file each (written whole, then renamed, so a
reader never sees half a message). Runs until stdin closes (the test ends). A second argument, in
milliseconds, makes it take that long over each message (a slow relay, so a
test can kill the server while sends are in flight).
"""

import asyncio
import os
import sys

from aiosmtpd.smtp import SMTP


class Sink:
    def __init__(self, folder, delay):
        self.folder = folder
        self.delay = delay
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        if self.delay:
            await asyncio.sleep(self.delay)
        self.count += 1
        name = os.path.join(self.folder, f"{self.count:06d}.eml")
        with open(name + ".tmp", "wb") as f:
            f.write(envelope.original_content or envelope.content)
        os.replace(name + ".tmp", name)
        return "250 Message accepted for delivery"


async def main(folder, delay_ms):
    loop = asyncio.get_running_loop()
    handler = Sink(folder, delay_ms / 1000)
    server = await loop.create_server(
        lambda: SMTP(handler, hostname="sink.test"), host="127.0.0.1", port=0
    )
    print(server.sockets[0].getsockname()[1], flush=True)
    # Stop when the test closes our stdin (or dies).
    await loop.run_in_executor(None, sys.stdin.read)
    server.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 0))
