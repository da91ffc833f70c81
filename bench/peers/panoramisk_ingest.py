"""Counts the AMI events panoramisk delivers to a callback, up to the bench's end marker.

Usage: panoramisk_ingest.py PORT TIMEOUT_SECONDS. Prints one JSON line,
{"events": N, "seconds": S}, timed from the first event delivered to the end marker.
"""
import asyncio
import json
import sys
import time

from panoramisk import Manager


async def main(port, timeout):
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    seen = {"events": 0, "start": None}

    def on_event(_manager, message):
        if seen["start"] is None:
            seen["start"] = time.perf_counter()
        if message.event == "UserEvent" and message.get("UserEvent") == "BenchEnd":
            if not done.done():
                done.set_result(time.perf_counter())
            return
        seen["events"] += 1

    # The pinger would add Ping actions to the measured stream: push it past the run.
    manager = Manager(loop=loop, host="127.0.0.1", port=port,
                      username="admin", secret="admin-secret",
                      ping_delay=timeout + 60, ping_interval=timeout + 60)
    manager.register_event("*", on_event)
    await manager.connect()
    try:
        end = await asyncio.wait_for(done, timeout)
    except asyncio.TimeoutError:
        print(f"no end marker within {timeout} s after {seen['events']} events",
              file=sys.stderr)
        return 2
    manager.close()
    print(json.dumps({"events": seen["events"], "seconds": end - seen["start"]}))
    return 0


sys.exit(asyncio.run(main(int(sys.argv[1]), float(sys.argv[2]))))
