/**
 * The baseline for bench:wire: a raw UDP blast between two Node processes,
 * no framing, no MAC, no acks. `recv` prints its port, then counts what
 * arrives; `send <port> <bytes>` blasts datagrams with a bounded number of
 * sends outstanding in Node.
 */
import dgram from 'node:dgram';

const DATAGRAM_BYTES = 60 * 1024;
const OUTSTANDING_MAX = 64;
const [mode, portArg, bytesArg] = process.argv.slice(2);

if (mode === 'recv') {
  const s = dgram.createSocket('udp4');
  let bytes = 0;
  let first = 0;
  let last = 0;
  let idle: NodeJS.Timeout | undefined;
  s.on('message', (m) => {
    const now = performance.now();
    if (first === 0) first = now;
    last = now;
    bytes += m.length;
    clearTimeout(idle);
    idle = setTimeout(() => {
      console.log(JSON.stringify({ bytes, ms: last - first }));
      s.close();
    }, 500);
  });
  s.bind(0, '127.0.0.1', () => {
    s.setRecvBufferSize(4 * 1024 * 1024);
    console.log(JSON.stringify({ port: s.address().port }));
  });
} else if (mode === 'send') {
  const s = dgram.createSocket('udp4');
  const total = Number(bytesArg);
  const buf = Buffer.alloc(DATAGRAM_BYTES, 7);
  let sent = 0;
  let outstanding = 0;
  const pump = () => {
    while (outstanding < OUTSTANDING_MAX && sent < total) {
      outstanding++;
      sent += buf.length;
      s.send(buf, Number(portArg), '127.0.0.1', () => {
        outstanding--;
        if (sent >= total && outstanding === 0) s.close();
        else pump();
      });
    }
  };
  s.bind(0, '127.0.0.1', () => {
    s.setSendBufferSize(4 * 1024 * 1024);
    pump();
  });
} else {
  console.error('usage: raw-udp recv | send <port> <bytes>');
  process.exit(2);
}
