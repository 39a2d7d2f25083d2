import dgram from 'node:dgram';

/**
 * A DNS server on a loopback UDP port that answers A queries for the names a spec sets, as a container
 * network's DNS (Docker's 127.0.0.11, podman's aardvark) answers a compose service name: one address per
 * running replica. Any other name is NXDOMAIN, so nothing that asks it can reach a real host.
 */
export interface DnsServer {
  port: number;
  /** The addresses a name resolves to from now on; an empty list takes the name away. */
  set(name: string, addresses: string[]): void;
  /** A queries answered so far for a name. */
  queries(name: string): number;
  close(): Promise<void>;
}

const TYPE_A = 1;
const CLASS_IN = 1;

export async function startDnsServer(records: Record<string, string[]> = {}): Promise<DnsServer> {
  const names = new Map(Object.entries(records).map(([name, addresses]) => [name.toLowerCase(), addresses]));
  const asked = new Map<string, number>();
  const socket = dgram.createSocket('udp4');
  socket.on('message', (query, peer) => {
    const answer = respond(query, names, asked);
    if (answer) socket.send(answer, peer.port, peer.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return {
    port: socket.address().port,
    set: (name, addresses) => {
      if (addresses.length === 0) names.delete(name.toLowerCase());
      else names.set(name.toLowerCase(), addresses);
    },
    queries: (name) => asked.get(name.toLowerCase()) ?? 0,
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}

/** One answer for one question (RFC 1035 §4.1), or undefined for a packet that is not a query. */
function respond(query: Buffer, names: Map<string, string[]>, asked: Map<string, number>): Buffer | undefined {
  if (query.length < 12 || (query[2] ?? 0) & 0x80 || query.readUInt16BE(4) !== 1) return undefined;
  const labels: string[] = [];
  let offset = 12;
  while (offset < query.length && query[offset] !== 0) {
    const length = query[offset] ?? 0;
    labels.push(query.subarray(offset + 1, offset + 1 + length).toString('ascii'));
    offset += length + 1;
  }
  const questionEnd = offset + 5;
  if (questionEnd > query.length) return undefined;
  const type = query.readUInt16BE(offset + 1);
  const name = labels.join('.').toLowerCase();
  const addresses = names.get(name);
  const answers = type === TYPE_A && addresses ? addresses : [];
  if (type === TYPE_A) asked.set(name, (asked.get(name) ?? 0) + 1);
  const header = Buffer.alloc(12);
  query.copy(header, 0, 0, 2);
  // Response, the query's recursion-desired bit, recursion available, authoritative; NXDOMAIN for an unknown name.
  header.writeUInt16BE(0x8480 | ((query[2] ?? 0) & 0x01) << 8 | (addresses ? 0 : 3), 2);
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(answers.length, 6);
  const records = answers.map((address) => {
    const record = Buffer.alloc(16);
    record.writeUInt16BE(0xc00c, 0); // the name, as a pointer to the question's
    record.writeUInt16BE(TYPE_A, 2);
    record.writeUInt16BE(CLASS_IN, 4);
    record.writeUInt32BE(1, 6); // one second; nginx's `valid=` decides how long it keeps an answer anyway
    record.writeUInt16BE(4, 10);
    address.split('.').forEach((part, index) => record.writeUInt8(Number(part), 12 + index));
    return record;
  });
  return Buffer.concat([header, query.subarray(12, questionEnd), ...records]);
}
