"""Logs in to pbxsim with panoramisk and runs CoreShowChannels; prints one result line.

Usage: panoramisk_client.py PORT. Exit status 0 and `OK items=N listitems=N` on success.
"""
import asyncio
import sys

from panoramisk import Manager


async def main(port):
    loop = asyncio.get_running_loop()
    # panoramisk calls on_login once the Login response says Success: wait for that signal.
    logged_in = asyncio.Event()
    manager = Manager(loop=loop, host="127.0.0.1", port=port,
                      username="admin", secret="admin-secret", ping_delay=60,
                      on_login=lambda _manager: logged_in.set())
    await manager.connect()
    try:
        await asyncio.wait_for(logged_in.wait(), 10)
    except asyncio.TimeoutError:
        print("LOGIN FAILED")
        return 2
    replies = await asyncio.wait_for(manager.send_action({"Action": "CoreShowChannels"}), 10)
    if not isinstance(replies, list):
        replies = [replies]
    items = [r for r in replies if r.get("Event") == "CoreShowChannel"]
    done = [r for r in replies if r.get("Event") == "CoreShowChannelsComplete"]
    if not done:
        print("NO COMPLETE EVENT", replies)
        return 3
    print(f"OK items={len(items)} listitems={done[0]['ListItems']} "
          f"first={items[0]['Channel'] if items else '-'}")
    manager.close()
    return 0


sys.exit(asyncio.run(main(int(sys.argv[1]))))
