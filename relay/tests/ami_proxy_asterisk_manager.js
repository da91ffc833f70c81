// Runs asterisk-manager (npm, unmodified) against AstPanel's AMI proxy; prints one JSON line.
//
// Usage: NODE_PATH=node_modules node ami_proxy_asterisk_manager.js PORT. Logs in with events
// on, pings, lists the channels, originates with `Async: true` and waits for its
// OriginateResponse, then tries a wrong secret. Prints what it saw, for the Rust test to
// judge: {"ping", "listed", "listitems", "originate", "sameActionId", "live", "badlogin"}.
'use strict';

const AsteriskManager = require('asterisk-manager');

const port = Number(process.argv[2]);
const deadline = setTimeout(() => {
  console.log(JSON.stringify({ error: 'timed out' }));
  process.exit(2);
}, 30000);

// A manager logged in with `secret`, and the answer to its Login.
function login(secret) {
  const ami = new AsteriskManager(port, '127.0.0.1', 'admin', secret, true);
  const seen = [];
  ami.on('managerevent', (event) => seen.push(event));
  return new Promise((resolve) => {
    ami.once('response', (response) => resolve({ ami, seen, response }));
  });
}

// The action's answer (asterisk-manager passes an error answer as both arguments).
function act(ami, action) {
  return new Promise((resolve) => ami.action(action, (error, answer) => resolve(answer || error)));
}

// The first event in `seen` for which `test` holds, once it has arrived.
function eventual(seen, test) {
  return new Promise((resolve) => {
    const check = () => {
      const hit = seen.find(test);
      if (hit) {
        resolve(hit);
      } else {
        setTimeout(check, 10);
      }
    };
    check();
  });
}

async function main() {
  const { ami, seen, response } = await login('admin-secret');
  if (response.response !== 'Success') {
    return { error: `login: ${JSON.stringify(response)}` };
  }
  const pong = await act(ami, { action: 'Ping' });

  // asterisk-manager names the ActionID itself: the one its answer carries.
  const listAnswer = await act(ami, { action: 'CoreShowChannels' });
  const listId = listAnswer.actionid;
  const complete = await eventual(
    seen,
    (e) => e.actionid === listId && e.event === 'CoreShowChannelsComplete',
  );
  const items = seen.filter((e) => e.actionid === listId && e.event === 'CoreShowChannel');

  const queued = await act(ami, {
    action: 'Originate',
    channel: 'Local/100@test',
    context: 'test',
    exten: '200',
    priority: '1',
    async: 'true',
  });
  const answered = await eventual(seen, (e) => e.event === 'OriginateResponse');
  ami.disconnect();

  const bad = await login('wrong-secret');
  bad.ami.disconnect();
  return {
    ping: pong.ping,
    listResponse: listAnswer.response,
    listed: items.map((e) => e.channel),
    listitems: complete.listitems,
    queued: queued.response,
    originate: answered.response,
    sameActionId: answered.actionid === queued.actionid,
    live: [...new Set(seen.map((e) => e.event))],
    badlogin: bad.response.message,
  };
}

main().then((result) => {
  clearTimeout(deadline);
  console.log(JSON.stringify(result));
  process.exit(result.error ? 1 : 0);
});
