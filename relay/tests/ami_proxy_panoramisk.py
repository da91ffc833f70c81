"""Runs panoramisk (PyPI, unmodified) against AstPanel's AMI proxy; prints one result line.

Usage: ami_proxy_panoramisk.py PORT. Logs in, pings, originates with `Async: true` and
waits for its OriginateResponse, lists the channels, then tries a wrong secret. Exit status 0
and `OK items=N listitems=N originate=Success badlogin=refused` on success.
"""
import asyncio
import sys

from panoramisk import Manager


async def login(port, secret):
    loop = asyncio.get_running_loop()
    logged_in = asyncio.Event()
    manager = Manager(loop=loop, host="127.0.0.1", port=port, username="admin",
                      secret=secret, ping_delay=60, reconnect_timeout=60,
                      on_login=lambda _manager: logged_in.set())
    await manager.connect()
    try:
        await asyncio.wait_for(logged_in.wait(), 5)
    except asyncio.TimeoutError:
        manager.close()
        return None
    return manager


async def main(port):
    manager = await login(port, "admin-secret")
    if manager is None:
        print("LOGIN FAILED")
        return 2
    pong = await asyncio.wait_for(manager.send_action({"Action": "Ping"}), 10)
    if pong.get("Ping") != "Pong":
        print("NO PONG", pong)
        return 3
    originate = await asyncio.wait_for(manager.send_action({
        "Action": "Originate", "Channel": "Local/100@test", "Context": "test",
        "Exten": "200", "Priority": "1", "Async": "true",
        "Variable": "DURATION=60"}), 20)
    if not isinstance(originate, list):
        originate = [originate]
    answered = [r for r in originate if r.get("Event") == "OriginateResponse"]
    if not answered:
        print("NO ORIGINATERESPONSE", originate)
        return 5
    replies = await asyncio.wait_for(manager.send_action({"Action": "CoreShowChannels"}), 10)
    if not isinstance(replies, list):
        replies = [replies]
    items = [r for r in replies if r.get("Event") == "CoreShowChannel"]
    done = [r for r in replies if r.get("Event") == "CoreShowChannelsComplete"]
    if not done:
        print("NO COMPLETE EVENT", replies)
        return 4
    manager.close()
    bad = await login(port, "wrong-secret")
    print(f"OK items={len(items)} listitems={done[0]['ListItems']} "
          f"originate={answered[0].get('Response')} "
          f"badlogin={'refused' if bad is None else 'accepted'}")
    return 0


sys.exit(asyncio.run(main(int(sys.argv[1]))))
