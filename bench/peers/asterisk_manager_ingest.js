// Counts the AMI events asterisk-manager (npm) delivers to a listener, up to the bench's end marker.
//
// Usage: node asterisk_manager_ingest.js PORT TIMEOUT_SECONDS. Prints one JSON line,
// {"events": N, "seconds": S}, timed from the first event delivered to the end marker.
'use strict';

const AsteriskManager = require('asterisk-manager');

const port = Number(process.argv[2]);
const timeoutSeconds = Number(process.argv[3]);
let events = 0;
let start = null;

const ami = new AsteriskManager(port, '127.0.0.1', 'admin', 'admin-secret', true);
const timer = setTimeout(() => {
  console.error(`no end marker within ${timeoutSeconds} s after ${events} events`);
  process.exit(2);
}, timeoutSeconds * 1000);

ami.on('managerevent', (event) => {
  const now = process.hrtime.bigint();
  if (start === null) {
    start = now;
  }
  if (event.event === 'UserEvent' && event.userevent === 'BenchEnd') {
    clearTimeout(timer);
    const seconds = Number(now - start) / 1e9;
    console.log(JSON.stringify({ events, seconds }));
    ami.disconnect();
    return;
  }
  events += 1;
});
